"""Image plumbing: ComfyUI's (B, H, W, C) layout, checks, and the processing size that keeps the aspect ratio."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import CLIPstylerError


def check_image(images: torch.Tensor, name: str = "image") -> None:
    """Raise a CLIPstylerError naming `name` unless images is a (B, H, W, 3) float tensor in [0, 1]."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise CLIPstylerError(f"{name} must be a (batch, height, width, channels) image tensor, got {shape}")
    if images.shape[0] == 0:
        raise CLIPstylerError(f"{name} is an empty batch")
    channels = images.shape[-1]
    if channels != 3:
        raise CLIPstylerError(
            f"{name} has {channels} channels; CLIPstyler needs RGB (3 channels): "
            "convert it first (drop the alpha channel, or turn a grey/mask image into RGB)"
        )
    if not images.is_floating_point():
        raise CLIPstylerError(f"{name} must be float in [0, 1], got {images.dtype}")
    if not torch.isfinite(images).all():
        raise CLIPstylerError(f"{name} contains NaN or infinite values")
    low, high = float(images.min()), float(images.max())
    if low < -1e-3 or high > 1 + 1e-3:
        raise CLIPstylerError(f"{name} values must lie in [0, 1], got [{low:.3g}, {high:.3g}] (is it 0-255?)")


def to_bchw(images: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) -> (B, C, H, W), contiguous."""
    return images.movedim(-1, 1).contiguous()


def to_bhwc(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H, W, C), contiguous."""
    return images.movedim(1, -1).contiguous()


def processing_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(H, W) scaled so the long side is long_side, both rounded to multiples of 8 (at least 8)."""
    long_side = max(8, round(long_side / 8) * 8)
    scale = long_side / max(height, width)
    return tuple(max(8, round(side * scale / 8) * 8) for side in (height, width))


def resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic, antialiased when shrinking, clamped to [0, 1]: (B, C, H, W) -> (B, C, *size)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def pad_to_multiple(images: torch.Tensor, multiple: int = 8) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad the bottom and right edges up to a multiple; returns the padded images and the original (H, W)."""
    height, width = images.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        images = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")
    return images, (height, width)
