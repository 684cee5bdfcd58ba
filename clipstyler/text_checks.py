"""The style and source texts' checks, with no model and no heavy import: the command line runs them before it
loads anything (importing clipstyler.text pulls in open_clip's tokenizer, seconds on a small machine)."""

from __future__ import annotations

from .errors import CLIPstylerError

DEFAULT_SOURCE_TEXT = "a Photo"


def check_style_texts(style_text: str, source_text: str = DEFAULT_SOURCE_TEXT) -> tuple[str, str]:
    """The two texts, stripped, or a CLIPstylerError saying what to type (no model needed: check before loading)."""
    style_text, source_text = style_text.strip(), source_text.strip()
    if not style_text:
        raise CLIPstylerError("style text is empty: type the style you want, e.g. 'oil painting by Van Gogh'")
    if not source_text:
        raise CLIPstylerError(
            f"source text is empty: describe the input's current look (default {DEFAULT_SOURCE_TEXT!r})"
        )
    if style_text == source_text:
        raise CLIPstylerError("style text and source text are the same, so there is no direction to move in")
    return style_text, source_text
