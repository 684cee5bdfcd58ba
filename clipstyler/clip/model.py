"""A frozen CLIP (image and text encoder) with the preprocessing CLIPstyler feeds it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .speedups import speed_up_vision_tower
from .text_truncation import encode_text_truncated

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no weight gradients: the authors' code computed and discarded CLIP's weight gradients."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


@dataclass(eq=False)
class StylerCLIP:
    """A joint image+text CLIP for CLIPstyler.

    Attributes:
        model: an open_clip CLIP (encode_image, encode_text), frozen.
        tokenizer: texts -> (N, context_length) token ids.
        name: what it was loaded from, shown in errors and saved in StyleNet metadata.
        image_size: CLIP's input side (224 for ViT-B/32).
    """

    model: nn.Module
    tokenizer: Callable[[Sequence[str]], torch.Tensor]
    name: str
    image_size: int = 224
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD
    _normalise: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        freeze(self.model)
        speed_up_vision_tower(self.model)

    @property
    def image_tower(self) -> nn.Module:
        """The part of model that encode_image runs (open_clip's `visual`)."""
        return getattr(self.model, "visual", self.model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: torch.device | str) -> StylerCLIP:
        self.model.to(device)
        return self

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """(N,) texts -> (N, D) raw (un-normalised) float32 text embeddings (encoded up to the last EOT token)."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        return encode_text_truncated(self.model, tokens).float()

    def encode_image(
        self, images: torch.Tensor, encoder: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> torch.Tensor:
        """(N, 3, S, S) images in [0, 1] at S = image_size -> (N, D) raw embeddings. Differentiable in the images.

        encoder: what runs on the normalised images instead of model.encode_image (e.g. a compiled version of it).
        """
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            raise ValueError(f"encode_image expects {self.image_size}px squares, got {tuple(images.shape[-2:])}")
        mean, std = self._stats(images)
        return (encoder or self.model.encode_image)((images - mean) / std)

    def _stats(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (images.device, images.dtype)
        if key not in self._normalise:
            shape = (1, 3, 1, 1)
            with torch.inference_mode(False):  # ordinary tensors, which a later backward may save
                self._normalise[key] = (
                    torch.tensor(self.mean, device=images.device, dtype=images.dtype).view(shape),
                    torch.tensor(self.std, device=images.device, dtype=images.dtype).view(shape),
                )
        return self._normalise[key]


def global_view(
    images: torch.Tensor, size: int, mode: str = "pad", fill: Sequence[float] = OPENAI_MEAN
) -> torch.Tensor:
    """The whole image as CLIP sees it: (B, 3, H, W) -> (B, 3, size, size).

    "squash" is the reference: bicubic F.interpolate to size x size, no antialias, whatever the aspect ratio.
    "pad" (default, a departure for non-square images only) keeps the aspect ratio: the long side is resized to
    `size` the same way and the short side is padded with `fill`, CLIP's mean colour (zero after normalisation).
    Both give the same result for a square image.
    """
    height, width = images.shape[-2:]
    if mode not in ("pad", "squash"):
        raise ValueError(f"global_view mode must be 'pad' or 'squash', got {mode!r}")
    if mode == "squash" or height == width:
        return F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False)
    scale = size / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    resized = F.interpolate(images, size=(new_h, new_w), mode="bicubic", align_corners=False)
    canvas = torch.tensor(tuple(fill), device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    canvas = canvas.expand(images.shape[0], 3, size, size).clone()
    top, left = (size - new_h) // 2, (size - new_w) // 2
    canvas[:, :, top:top + new_h, left:left + new_w] = resized
    return canvas
