"""Image plumbing: checks of what callers pass in, ComfyUI's (B, H, W, C) layout, and processing sizes.

The library takes (B, 3, H, W) float images in [0, 1]; ComfyUI's IMAGE is (B, H, W, 3). Anything else gets an error
that names the input and says how to convert it, except uint8 and a single (3, H, W) image, which are unambiguous
and converted (with a log line saying so).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from .errors import CLIPstylerError, SettingError
from .settings import MIN_SIDE

log = logging.getLogger(__name__)


def _check_values(images: torch.Tensor, name: str) -> None:
    """Float, finite, in [0, 1] (to float rounding), and not an empty batch."""
    if images.shape[0] == 0:
        raise CLIPstylerError(f"{name} is an empty batch: pass at least one image")
    if not images.is_floating_point():
        raise CLIPstylerError(f"{name} must be float in [0, 1], got {images.dtype}")
    if not torch.isfinite(images).all():
        raise CLIPstylerError(f"{name} contains NaN or infinite values")
    low, high = float(images.min()), float(images.max())
    if low < -1e-3 or high > 1 + 1e-3:
        hint = ": divide 0-255 values by 255" if 1 < high <= 255 and low >= 0 else ""
        raise CLIPstylerError(f"{name} values must lie in [0, 1], got [{low:.3g}, {high:.3g}]{hint}")


def check_image(images: torch.Tensor, name: str = "image") -> None:
    """Raise a CLIPstylerError naming `name` unless images is a (B, H, W, 3) float tensor in [0, 1] (ComfyUI)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise CLIPstylerError(f"{name} must be a (batch, height, width, channels) image tensor, got {shape}")
    channels = images.shape[-1]
    if channels != 3:
        raise CLIPstylerError(
            f"{name} has {channels} channels; CLIPstyler needs RGB (3 channels): "
            "convert it first (drop the alpha channel, or turn a grey/mask image into RGB)"
        )
    _check_values(images, name)


def as_image_batch(images, name: str = "images") -> torch.Tensor:
    """The library's input check: images as a (B, 3, H, W) float tensor in [0, 1], or a CLIPstylerError.

    A (3, H, W) tensor is taken as one image and uint8 as 0-255; both are converted, with a log line.
    """
    if not isinstance(images, torch.Tensor):
        shape = f" of shape {tuple(images.shape)}" if hasattr(images, "shape") else ""
        raise CLIPstylerError(
            f"{name} must be a torch.Tensor (batch, 3, height, width) in [0, 1], got {type(images).__name__}"
            f"{shape}: convert it with torch.from_numpy(array) (then .permute(0, 3, 1, 2) if it is (B, H, W, 3))"
        )
    if images.dim() == 3 and images.shape[0] == 3:
        log.info("%s is (3, H, W): taken as one image", name)
        images = images[None]
    if images.dim() != 4 or images.shape[1] != 3:
        hint = ": it looks like (B, H, W, 3), use images.permute(0, 3, 1, 2)" if images.shape[-1] == 3 else ""
        raise CLIPstylerError(f"{name} must be (batch, 3, height, width), got {tuple(images.shape)}{hint}")
    if images.dtype == torch.uint8:
        log.info("%s is uint8: taken as 0-255 and divided by 255", name)
        images = images.float() / 255
    _check_values(images, name)
    return images.float()


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


def _smallest_size_with_short_side(height: int, width: int, needed: int) -> int:
    """The smallest `size` (a multiple of 8) at which the processing size's short side is at least `needed`."""
    def fits(long_side: int) -> bool:
        return min(processing_size(height, width, long_side)) >= needed

    size = -(-needed * max(height, width) // min(height, width) // 8) * 8  # close; rounding the short side to a
    while not fits(size):  # multiple of 8 moves the exact threshold a few px either way
        size += 8
    while size > 8 and fits(size - 8):
        size -= 8
    return size


def check_processing_size(height: int, width: int, size: int, crop_size: int) -> tuple[int, int]:
    """The processing size of an (H, W) image, or a SettingError naming `size`/`crop_size` if it cannot work.

    Both sides must be at least MIN_SIDE px (the networks' pooling) and at least crop_size (the patches).
    """
    work_h, work_w = processing_size(height, width, size)
    short, needed = min(work_h, work_w), max(MIN_SIDE, crop_size)
    if short >= needed:
        return work_h, work_w
    enough = _smallest_size_with_short_side(height, width, needed)
    if short >= MIN_SIDE:
        advice = f"lower {{crop_size}} to {short} or less, or raise {{size}} to {enough} or more"
    else:
        advice = f"raise {{size}} to {enough} or more"
    if max(height, width) > 4 * min(height, width):
        advice += ", or crop the image to a less elongated shape"
    raise SettingError(
        f"the image ({width}x{height} px) is processed at {work_w}x{work_h} px at {{size}} {size}; its short side "
        f"must be at least {needed} px ({{crop_size}} {crop_size}; the networks need {MIN_SIDE}): {advice}",
        ("size", "crop_size"),
    )


def resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic, antialiased when shrinking, clamped to [0, 1]: (B, C, H, W) -> (B, C, *size)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def pad_for_stylenet(images: torch.Tensor, multiple: int = 8) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad the bottom and right edges to multiples of `multiple` and at least MIN_SIDE px (StyleNet's
    instance norms need more than one value at the coarsest level); returns the padded images and the original
    (H, W) to crop back to."""
    height, width = images.shape[-2:]
    padded = [max(MIN_SIDE, side + (-side) % multiple) for side in (height, width)]
    pad_h, pad_w = padded[0] - height, padded[1] - width
    if pad_h or pad_w:
        images = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")
    return images, (height, width)
