"""Text side of CLIPstyler: a style text and a source text become one unit direction in CLIP space."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .clip.model import StylerCLIP
from .templates import IMAGENET_TEMPLATES
from .text_checks import DEFAULT_SOURCE_TEXT, check_style_texts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StyleTarget:
    """The text direction dt = normalise(T_style - T_source), encoded once and reused by any number of runs.

    direction: (D,) float32 unit vector on the CPU. clip_name: the CLIP that encoded it (directions from different
    CLIPs are not comparable). notes: warnings a user should see, e.g. a text too long for CLIP.
    """

    style_text: str
    source_text: str
    direction: torch.Tensor
    clip_name: str
    notes: tuple[str, ...] = ()


def overflow_warning(clip: StylerCLIP, text: str, templates: Sequence[str] = IMAGENET_TEMPLATES) -> str | None:
    """A warning if some prompt templates filled with text exceed CLIP's context (its tokenizer cuts them)."""
    tokenizer = clip.tokenizer
    encode, decode = getattr(tokenizer, "encode", None), getattr(tokenizer, "decode", None)
    context = getattr(tokenizer, "context_length", None)
    if encode is None or decode is None or not context:
        return None  # a tokenizer we cannot measure; CLIP still reads what fits
    tokens = max((encode(template.format(text)) for template in templates), key=len)
    fits = context - 2  # the start and end tokens take two places
    if len(tokens) <= fits:
        return None
    lost = decode(tokens[fits:]).strip()
    if not decode(tokens[fits - 1:fits]).endswith(" "):  # the cut falls inside a word
        lost = "..." + lost
    return (
        f"the text {text[:40]!r}... is too long for CLIP: {len(tokens) + 2} tokens in its longest prompt template, "
        f"CLIP reads {context}; it ignores the end: {lost!r}. Shorten the text."
    )


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
    style_text, source_text = check_style_texts(style_text, source_text)
    notes = tuple(note for note in (overflow_warning(clip, t, templates) for t in (style_text, source_text)) if note)
    for note in notes:
        log.warning(note)
    with torch.inference_mode(False), torch.no_grad():
        direction = embed_text(clip, style_text, templates) - embed_text(clip, source_text, templates)
        direction = F.normalize(direction, dim=-1).cpu()
    return StyleTarget(style_text, source_text, direction, clip.name, notes)
