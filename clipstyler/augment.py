"""Random crops with a random perspective warp, batched over all crops in one kornia call.

The reference (docs/METHOD.md) does one crop at a time: RandomCrop(128) -> RandomPerspective(0.5, p=1, fill 0, bilinear)
-> Resize(224). Here the parameters of all crops are drawn first (on the CPU, from a seeded generator, so a run is
reproducible on any device), then applied to the whole batch of crops at once on the image's device.
Departure: kornia's warp_perspective replaces torchvision's perspective for the warp (same homography from the same
corner offsets, drawn as torchvision draws them; sub-pixel sampling may differ slightly).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from kornia.geometry.transform import get_perspective_transform, warp_perspective

from .errors import CLIPstylerError


@dataclass(frozen=True)
class PatchParams:
    """Where each crop is cut and how it is warped.

    image_index: (N,) which image of the batch; top, left: (N,) crop corner; homography: (N, 3, 3) float32,
    mapping the crop's pixels to the warped crop's pixels.
    """

    image_index: torch.Tensor
    top: torch.Tensor
    left: torch.Tensor
    homography: torch.Tensor
    crop_size: int

    def _map(self, f) -> PatchParams:
        return PatchParams(f(self.image_index), f(self.top), f(self.left), f(self.homography), self.crop_size)

    def to(self, device: torch.device | str) -> PatchParams:
        return self._map(lambda t: t.to(device, non_blocking=True))

    def select(self, index: slice) -> PatchParams:
        """The params of a slice of the crops (for feeding CLIP in chunks)."""
        return self._map(lambda t: t[index])

    def __len__(self) -> int:
        return int(self.image_index.shape[0])


def _perspective_corners(n: int, size: int, distortion: float, generator: torch.Generator) -> torch.Tensor:
    """End points of the four corners as torchvision's RandomPerspective.get_params draws them: (N, 4, 2) as (x, y)."""
    half = size // 2
    reach = int(distortion * half) + 1
    offsets = torch.randint(0, reach, (n, 8), generator=generator).float()
    last = size - 1
    x = torch.stack([offsets[:, 0], last - offsets[:, 2], last - offsets[:, 4], offsets[:, 6]], dim=1)
    y = torch.stack([offsets[:, 1], offsets[:, 3], last - offsets[:, 5], last - offsets[:, 7]], dim=1)
    return torch.stack([x, y], dim=-1)


def sample_patch_params(
    n: int,
    image_hw: tuple[int, int],
    crop_size: int,
    distortion: float = 0.5,
    num_images: int = 1,
    generator: torch.Generator | None = None,
) -> PatchParams:
    """Draw N crops of crop_size and their perspective warps, spread evenly over num_images images (CPU tensors)."""
    height, width = image_hw
    if crop_size > min(height, width):
        raise CLIPstylerError(
            f"crop_size {crop_size} is larger than the image ({width}x{height} px at the processing size): "
            "lower crop_size or raise size"
        )
    image_index = torch.arange(n) % num_images
    top = torch.randint(0, height - crop_size + 1, (n,), generator=generator)
    left = torch.randint(0, width - crop_size + 1, (n,), generator=generator)
    last = crop_size - 1
    start = torch.tensor([[0.0, 0.0], [last, 0.0], [last, last], [0.0, last]]).expand(n, 4, 2)
    end = _perspective_corners(n, crop_size, distortion, generator)
    homography = get_perspective_transform(start, end)
    return PatchParams(image_index, top, left, homography, crop_size)


def _crop_indices(params: PatchParams, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    steps = torch.arange(params.crop_size, device=device)
    rows = (params.top[:, None] + steps)[:, :, None]  # (N, crop, 1)
    cols = (params.left[:, None] + steps)[:, None, :]  # (N, 1, crop)
    return params.image_index[:, None, None], rows, cols


class _CropGatherInFixedOrder(torch.autograd.Function):
    """The crops' gather with a backward that adds each crop's gradient into its window one crop after another.

    The gather's own backward (index_put_ with accumulate) adds the gradients of overlapping crops on a multi-threaded
    CPU with parallel atomic float adds, in an order that changes from run to run: two runs with the same seed then
    differ. Adding in a fixed order gives bit-identical runs, the same numbers as one thread, and is no slower.
    """

    @staticmethod
    def forward(ctx, images: torch.Tensor, params: PatchParams) -> torch.Tensor:
        ctx.shape, ctx.crop_size = images.shape, params.crop_size
        ctx.windows = list(zip(params.image_index.tolist(), params.top.tolist(), params.left.tolist()))
        batch, rows, cols = _crop_indices(params, images.device)
        return images.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        size, images_grad = ctx.crop_size, grad.new_zeros(ctx.shape)
        for n, (b, top, left) in enumerate(ctx.windows):
            images_grad[b, :, top:top + size, left:left + size] += grad[n]
        return images_grad, None


def cut_crops(images: torch.Tensor, params: PatchParams) -> torch.Tensor:
    """Gather all crops in one indexing op: (B, C, H, W) -> (N, C, crop, crop). Differentiable.

    On the CPU the backward adds overlapping crops in a fixed order (bit-identical reruns); on GPUs the gather's own
    backward is already deterministic (sort-based) and reading the crop positions would cost a host sync.
    """
    if images.device.type == "cpu" and images.requires_grad:
        return _CropGatherInFixedOrder.apply(images, params)
    batch, rows, cols = _crop_indices(params, images.device)
    return images.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def augment_crops(images: torch.Tensor, params: PatchParams, out_size: int) -> torch.Tensor:
    """Crop, warp (fill 0, bilinear) and resize every crop to out_size: (B, C, H, W) -> (N, C, out, out)."""
    crops = cut_crops(images, params)
    homography = params.homography.to(device=crops.device, dtype=crops.dtype)
    warped = warp_perspective(crops, homography, (params.crop_size, params.crop_size), mode="bilinear",
                              padding_mode="zeros", align_corners=True)
    if out_size == params.crop_size:
        return warped
    return F.interpolate(warped, size=(out_size, out_size), mode="bilinear", align_corners=False)
