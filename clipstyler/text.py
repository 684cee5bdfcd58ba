"""Text side of CLIPstyler: a style text and a source text become one unit direction in CLIP space."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .clip_model import StylerCLIP
from .errors import CLIPstylerError
from .templates import IMAGENET_TEMPLATES

DEFAULT_SOURCE_TEXT = "a Photo"


@dataclass(frozen=True)
class StyleTarget:
    """The text direction dt = normalise(T_style - T_source), encoded once and reused by any number of runs.

    direction: (D,) float32 unit vector on the CPU. clip_name: the CLIP that encoded it (directions from different
    CLIPs are not comparable).
    """

    style_text: str
    source_text: str
    direction: torch.Tensor
    clip_name: str


def embed_text(clip: StylerCLIP, text: str, templates: Sequence[str] = IMAGENET_TEMPLATES) -> torch.Tensor:
    """Every template filled with text, encoded, averaged, then L2-normalised once: (D,).

    As in the authors' code the template embeddings are averaged raw; only the mean is normalised.
    """
    embeddings = clip.encode_text([template.format(text) for template in templates])
    return F.normalize(embeddings.mean(dim=0), dim=-1)


def encode_style_target(
    clip: StylerCLIP,
    style_text: str,
    source_text: str = DEFAULT_SOURCE_TEXT,
    templates: Sequence[str] = IMAGENET_TEMPLATES,
) -> StyleTarget:
    """Encode the style and source texts into a StyleTarget."""
    style_text, source_text = style_text.strip(), source_text.strip()
    if not style_text:
        raise CLIPstylerError("style text is empty: type the style you want, e.g. 'oil painting by Van Gogh'")
    if not source_text:
        raise CLIPstylerError(
            f"source text is empty: describe the input's current look (default {DEFAULT_SOURCE_TEXT!r})"
        )
    if style_text == source_text:
        raise CLIPstylerError("style text and source text are the same, so there is no direction to move in")
    with torch.inference_mode(False), torch.no_grad():
        direction = embed_text(clip, style_text, templates) - embed_text(clip, source_text, templates)
        direction = F.normalize(direction, dim=-1).cpu()
    return StyleTarget(style_text, source_text, direction, clip.name)
