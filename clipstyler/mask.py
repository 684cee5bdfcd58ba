"""Masks: which part of an image to stylize, in ComfyUI's MASK convention (docs/METHOD.md, "Stylizing a region").

A mask is (B, H, W) or (H, W), float in [0, 1], 1 = stylize, 0 = keep the input. It is fitted to an image batch as
ComfyUI core's `composite` (comfy_extras/nodes_mask.py) fits one: resized to the image with bilinear
F.interpolate (align_corners False, no antialias), then repeated, or cut, to the batch size
(comfy.utils.repeat_to_batch_size: image i gets mask i % B_mask). Then, if asked, feathered inside its edge, and the
result is composited over the ORIGINAL input: out = mask * stylized + (1 - mask) * input, so wherever the fitted
mask is 0 the output is the input, bit for bit, whatever the feather.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import CLIPstylerError, SettingError

log = logging.getLogger(__name__)

NO_ALPHA_HINT = ("ComfyUI's Load Image gives an all-zero 64x64 mask for an image without alpha: invert it (Invert "
                 "Mask) or paint one in the mask editor")


def as_mask_batch(mask, name: str = "mask") -> torch.Tensor:
    """The mask as a (B, H, W) float32 tensor in [0, 1], or a CLIPstylerError naming the problem.

    (H, W) is taken as one mask; bool is taken as 0/1 and uint8 as 0-255 (with a log line).
    """
    if not isinstance(mask, torch.Tensor):
        raise CLIPstylerError(f"{name} must be a torch.Tensor (batch, height, width) in [0, 1], got "
                              f"{type(mask).__name__}")
    if mask.dim() == 2:
        mask = mask[None]
    if mask.dim() != 3:
        hint = ": drop the channel dimension, e.g. mask[:, 0]" if mask.dim() == 4 and 1 in mask.shape[1:2] else ""
        raise CLIPstylerError(f"{name} must be (batch, height, width) or (height, width), got shape "
                              f"{tuple(mask.shape)}{hint}")
    if 0 in mask.shape:
        raise CLIPstylerError(f"{name} is empty (shape {tuple(mask.shape)}): pass at least one mask of at least 1x1 px")
    if mask.dtype == torch.bool:
        mask = mask.float()
    elif mask.dtype == torch.uint8:
        log.info("%s is uint8: taken as 0-255 and divided by 255", name)
        mask = mask.float() / 255
    elif not mask.is_floating_point():
        raise CLIPstylerError(f"{name} must be float in [0, 1], got {mask.dtype}")
    if not torch.isfinite(mask).all():
        raise CLIPstylerError(f"{name} contains NaN or infinite values")
    low, high = float(mask.min()), float(mask.max())
    if low < -1e-3 or high > 1 + 1e-3:
        looks_8bit = 1 < high <= 255 and low >= 0 and bool((mask == mask.round()).all())
        hint = ": divide 0-255 values by 255" if looks_8bit else ""
        raise CLIPstylerError(f"{name} values must lie in [0, 1] (1 = stylize), got [{low:.3g}, {high:.3g}]{hint}")
    return mask.float().clamp(0, 1)


def check_feather(feather) -> int:
    """feather as an int >= 0 (pixels), or a CLIPstylerError."""
    if isinstance(feather, bool) or not isinstance(feather, int) or feather < 0:
        raise CLIPstylerError(f"feather must be a whole number of pixels, 0 or more, got {feather!r}")
    return feather


def fit_mask(mask: torch.Tensor, batch: int, height: int, width: int) -> torch.Tensor:
    """ComfyUI's composite convention: (B_mask, h, w) -> (batch, 1, height, width), bilinear then repeated or cut."""
    mask = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1])
    if tuple(mask.shape[-2:]) != (height, width):  # at the same size core's bilinear resize is the identity
        mask = F.interpolate(mask, size=(height, width), mode="bilinear")
    if mask.shape[0] > batch:
        return mask[:batch]
    if mask.shape[0] < batch:
        return mask.repeat(-(-batch // mask.shape[0]), 1, 1, 1)[:batch]
    return mask


def _erode(mask: torch.Tensor, square: bool) -> torch.Tensor:
    """One pixel of grey erosion (a min filter); outside the image counts as inside the mask, so a mask that reaches
    the border does not fade there. Square (3x3) and cross kernels alternate: an octagonal distance."""
    if square:
        return -F.max_pool2d(-mask, 3, stride=1, padding=1)
    rows = -F.max_pool2d(-mask, (1, 3), stride=1, padding=(0, 1))
    cols = -F.max_pool2d(-mask, (3, 1), stride=1, padding=(1, 0))
    return torch.minimum(rows, cols)


def feather_mask(mask: torch.Tensor, feather: int) -> torch.Tensor:
    """Soften the mask's edge over `feather` px, inside the mask: (B, 1, H, W) -> the same.

    The mean of the mask eroded by 0, 1, ..., feather - 1 px: for a 0/1 mask, a pixel d px inside the edge (d = 1
    next to it) gets min(d, feather) / feather. The result is never above the mask, so it is exactly 0 wherever the
    mask is 0 (the image stays unchanged there, bit for bit), and exactly 1 deeper than `feather` px inside.
    """
    feather = check_feather(feather)
    if feather <= 1:
        return mask
    total, eroded = torch.zeros_like(mask), mask
    for k in range(feather):
        total += eroded
        if k + 1 < feather:
            eroded = _erode(eroded, square=k % 2 == 0)
            if not eroded.any():
                break
    return total / feather


def prepare_mask(mask, batch: int, height: int, width: int, feather: int = 0) -> torch.Tensor:
    """Check, fit (ComfyUI's convention) and feather a mask for an image batch: (batch, 1, height, width)."""
    feather = check_feather(feather)
    return feather_mask(fit_mask(as_mask_batch(mask), batch, height, width), feather)


def composite(stylized: torch.Tensor, content: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mask * stylized + (1 - mask) * content, as core's composite: exactly content where mask is 0."""
    return mask * stylized + (1 - mask) * content


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A fitted (B, 1, H, W) mask at the processing size: bilinear, antialiased when shrinking (a thin region is
    averaged, not skipped)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def empty_masks(mask: torch.Tensor) -> list[int]:
    """Indices of the (B, 1, H, W) masks that are zero everywhere."""
    return [i for i, peak in enumerate(mask.amax(dim=(1, 2, 3)).tolist()) if peak == 0]


def patch_coverage(mask: torch.Tensor, crop_size: int) -> torch.Tensor:
    """The mean of the mask over every crop_size window: (B, 1, H, W) -> (B, H - crop + 1, W - crop + 1), float64.

    From the integral image (two cumulative sums), so O(H W) whatever the crop size; exact for 0/1 masks.
    """
    integral = F.pad(mask[:, 0].double().cumsum(1).cumsum(2), (1, 0, 1, 0))
    c = crop_size
    sums = integral[:, c:, c:] - integral[:, :-c, c:] - integral[:, c:, :-c] + integral[:, :-c, :-c]
    return sums / (c * c)


@dataclass(frozen=True)
class PatchPositions:
    """The crop corners allowed in each image of a batch: those whose crop the mask covers at least half of.

    flat: the allowed corners of all images, concatenated, each as top * columns + left; start, count: (B,) where
    each image's run begins and how long it is; columns: W - crop_size + 1.
    """

    flat: torch.Tensor
    start: torch.Tensor
    count: torch.Tensor
    columns: int
    crop_size: int

    def select(self, index: torch.Tensor) -> PatchPositions:
        """The positions of the images at index (a step's images)."""
        index = index.cpu()
        return PatchPositions(self.flat, self.start[index], self.count[index], self.columns, self.crop_size)

    def draw(self, image_index: torch.Tensor, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """(top, left) of one crop per entry of image_index, uniform among that image's allowed corners."""
        count = self.count[image_index]
        if (count == 0).any():
            raise CLIPstylerError("a crop was asked of an image with no allowed position (its mask is too small)")
        pick = (torch.rand(len(image_index), generator=generator, dtype=torch.float64) * count).long()
        flat = self.flat[self.start[image_index] + torch.minimum(pick, count - 1)]
        return flat // self.columns, flat % self.columns


def patch_positions(mask: torch.Tensor, crop_size: int, min_coverage: float = 0.5) -> PatchPositions:
    """Every crop corner whose crop_size crop the (B, 1, H, W) mask covers at least min_coverage of (on the CPU)."""
    height, width = mask.shape[-2:]
    if crop_size > min(height, width):
        raise SettingError(f"{{crop_size}} ({crop_size}) is larger than the image ({width}x{height} px at the "
                           "processing size): lower {crop_size} or raise {size}", ("crop_size", "size"))
    allowed = patch_coverage(mask.detach().cpu(), crop_size) >= min_coverage
    return _positions(allowed.flatten(1), width - crop_size + 1, crop_size)


def _positions(allowed: torch.Tensor, columns: int, crop_size: int) -> PatchPositions:
    """PatchPositions from a (B, corners) bool tensor of the allowed corners."""
    count = allowed.sum(1)
    start = torch.cumsum(count, 0) - count
    flat = torch.nonzero(allowed)[:, 1]  # row-major over (image, corner): each image's run in order
    return PatchPositions(flat, start, count, columns, crop_size)


def training_crop_positions(images, mask, feather: int, work_size: tuple[int, int], crop_size: int
                            ) -> tuple[list[int], PatchPositions]:
    """For training on crops of many images (the fast mode): the images a crop can be drawn from, and where.

    images: the (N, 3, H, W) batch as given (the mask is fitted and feathered at its size, a frame at a time, then
    resized to work_size, the size the crops are cut at). Returns (kept, positions): the indices of the images with
    at least one crop that the mask covers at least half of, and their allowed corners. An all-zero mask, or one too
    small everywhere, is an error: there would be nothing to train on.
    """
    if not isinstance(images, torch.Tensor):
        raise CLIPstylerError("a mask needs the training images as one (N, 3, H, W) batch, not a list of images")
    count, (height, width) = (1 if images.dim() == 3 else images.shape[0]), images.shape[-2:]
    frames = FrameMasks(mask, count, height, width, feather)
    if frames.all_zero():
        raise CLIPstylerError(f"the mask is zero everywhere: there is nothing to train on. {NO_ALPHA_HINT}")
    if crop_size > min(work_size):
        raise SettingError(f"{{crop_size}} ({crop_size}) is larger than the training images ({work_size[1]}x"
                           f"{work_size[0]} px): lower {{crop_size}} or raise {{size}}", ("crop_size", "size"))
    allowed = torch.cat([(patch_coverage(resize_mask(frames.frames(i, i + 1), work_size), crop_size) >= 0.5)
                         .flatten(1) for i in range(count)])
    kept = [i for i, n in enumerate(allowed.sum(1).tolist()) if n > 0]
    if not kept:
        raise too_small_error(list(range(count)), crop_size, count)
    if len(kept) < count:
        log.warning("%d of %d training images have no %d px crop at least half inside the mask: left out",
                    count - len(kept), count, crop_size)
    return kept, _positions(allowed[kept], work_size[1] - crop_size + 1, crop_size)


def too_small_error(images: list[int], crop_size: int, batch: int) -> SettingError:
    """The error for masks that cover less than half of every crop: names the images and what to change."""
    which = "the mask" if batch == 1 else f"the mask of image(s) {', '.join(str(i + 1) for i in images[:5])}"
    return SettingError(f"{which} covers less than half of every {{crop_size}} ({crop_size} px) patch at the "
                        "processing size, so no patch can be drawn inside it: lower {crop_size}, raise {size}, or "
                        "enlarge the mask", ("crop_size", "size"))


def masked_patch_positions(mask: torch.Tensor, crop_size: int) -> PatchPositions:
    """patch_positions, or a SettingError if an image's mask allows no crop."""
    positions = patch_positions(mask, crop_size)
    none = [i for i, count in enumerate(positions.count.tolist()) if count == 0]
    if none:
        raise too_small_error(none, crop_size, len(positions.count))
    return positions


def bounding_boxes(mask: torch.Tensor) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right), end-exclusive, of each (B, 1, H, W) mask's nonzero pixels; the whole image for an
    all-zero mask."""
    boxes = []
    for item in mask[:, 0].detach().cpu():
        rows, cols = torch.nonzero(item.amax(1)), torch.nonzero(item.amax(0))
        if len(rows) == 0:
            boxes.append((0, item.shape[0], 0, item.shape[1]))
        else:
            boxes.append((int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1))
    return boxes


class FrameMasks:
    """A mask fitted to a long batch of frames a chunk at a time (all of them at once could fill the memory)."""

    def __init__(self, mask, frames: int, height: int, width: int, feather: int = 0) -> None:
        self.masks, self.feather = as_mask_batch(mask).cpu(), check_feather(feather)  # composited on the CPU
        self.height, self.width = height, width
        self._one = prepare_mask(self.masks, 1, height, width, feather) if len(self.masks) == 1 else None

    def all_zero(self) -> bool:
        return not bool(self.masks.any())

    def frames(self, start: int, stop: int) -> torch.Tensor:
        """The fitted, feathered masks of frames start..stop-1: (stop - start, 1, H, W)."""
        if self._one is not None:
            return self._one.expand(stop - start, -1, -1, -1)
        index = torch.arange(start, stop) % len(self.masks)  # repeat_to_batch_size: frame i gets mask i % B
        return prepare_mask(self.masks[index], stop - start, self.height, self.width, self.feather)


def load_mask(path: str, invert: bool = False) -> torch.Tensor:
    """A mask image file as (1, H, W) in [0, 1]: white = 1 = stylize (its luminance; a grey file's own values),
    or the opposite with invert. For the command line's --mask."""
    from .image_io import load_image

    rgb = load_image(path)[0]
    grey = rgb[0] if bool((rgb == rgb[:1]).all()) else (rgb * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0)
    mask = grey.clamp(0, 1)[None]
    return 1 - mask if invert else mask
