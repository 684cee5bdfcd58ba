"""Random crops with a random perspective warp, as torchvision warps them, batched over all crops.

The reference (docs/METHOD.md) does one crop at a time: RandomCrop(128) -> RandomPerspective(0.5, p=1, fill 0,
bilinear) -> Resize(224). Here the parameters of all crops are drawn first (on the CPU, from a seeded generator, so a
run is reproducible on any device), then applied to the whole batch of crops at once on the image's device, with
torchvision's own conventions: the same corner offsets, the same least-squares coefficients, the homography applied to
pixel centres (x + 0.5) and sampled with grid_sample(align_corners=False), and the warped ones-mask multiplied in as
torchvision blends its fill. tests/clipstyler/test_warp_reference.py replays torchvision's perspective crop by crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .errors import CLIPstylerError

if TYPE_CHECKING:
    from .mask import PatchPositions


@dataclass(frozen=True)
class PatchParams:
    """Where each crop is cut and how it is warped.

    image_index: (N,) which image of the batch; top, left: (N,) crop corner;
    endpoints: (N, 4, 2) float32 integer-valued (x, y) pixels where the crop's corners (top-left, top-right,
    bottom-right, bottom-left) go, as torchvision's RandomPerspective.get_params draws them;
    coeffs: (N, 8) float32 torchvision's perspective coefficients (a, b, c, d, e, f, g, h), which map a pixel of the
    warped crop back to the crop: (x, y) -> ((a x + b y + c) / (g x + h y + 1), (d x + e y + f) / (g x + h y + 1)).
    """

    image_index: torch.Tensor
    top: torch.Tensor
    left: torch.Tensor
    endpoints: torch.Tensor
    coeffs: torch.Tensor
    crop_size: int

    def _map(self, f) -> PatchParams:
        tensors = (self.image_index, self.top, self.left, self.endpoints, self.coeffs)
        return PatchParams(*(f(t) for t in tensors), self.crop_size)

    def to(self, device: torch.device | str) -> PatchParams:
        return self._map(lambda t: t.to(device, non_blocking=True))

    def select(self, index: slice) -> PatchParams:
        """The params of a slice of the crops (for feeding CLIP in chunks)."""
        return self._map(lambda t: t[index])

    def __len__(self) -> int:
        return int(self.image_index.shape[0])

    def corner_points(self, i: int) -> tuple[list[list[int]], list[list[int]]]:
        """Crop i's (startpoints, endpoints) as torchvision.transforms.functional.perspective takes them."""
        return start_points(self.crop_size).long().tolist(), self.endpoints[i].long().tolist()


def start_points(size: int) -> torch.Tensor:
    """The corners of a size x size crop, top-left, top-right, bottom-right, bottom-left: (4, 2) as (x, y)."""
    last = float(size - 1)
    return torch.tensor([[0.0, 0.0], [last, 0.0], [last, last], [0.0, last]])


def perspective_corners(n: int, size: int, distortion: float, generator: torch.Generator) -> torch.Tensor:
    """End points of the four corners as torchvision's RandomPerspective.get_params draws them: (N, 4, 2) as (x, y)."""
    half = size // 2
    reach = int(distortion * half) + 1
    offsets = torch.randint(0, reach, (n, 8), generator=generator).float()
    last = size - 1
    x = torch.stack([offsets[:, 0], last - offsets[:, 2], last - offsets[:, 4], offsets[:, 6]], dim=1)
    y = torch.stack([offsets[:, 1], offsets[:, 3], last - offsets[:, 5], last - offsets[:, 7]], dim=1)
    return torch.stack([x, y], dim=-1)


def perspective_coefficients(start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """torchvision's _get_perspective_coeffs for a batch: (N, 4, 2), (N, 4, 2) -> (N, 8) float32.

    The 8 coefficients map end points to start points; solved by least squares in float64 with LAPACK's gels, the
    driver torchvision uses, then rounded to float32 as torchvision rounds them.
    """
    end, start = end.double(), start.double()
    x, y = end[..., 0], end[..., 1]  # (N, 4)
    u, v = start[..., 0], start[..., 1]
    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], dim=-1)  # (N, 4, 8)
    rows_v = torch.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], dim=-1)
    a_matrix = torch.stack([rows_u, rows_v], dim=2).reshape(-1, 8, 8)  # rows interleaved u0, v0, u1, v1, ...
    b_vector = start.reshape(-1, 8, 1)
    return torch.linalg.lstsq(a_matrix, b_vector, driver="gels").solution[..., 0].float()


def sample_patch_params(
    n: int,
    image_hw: tuple[int, int],
    crop_size: int,
    distortion: float = 0.5,
    num_images: int = 1,
    generator: torch.Generator | None = None,
    positions: PatchPositions | None = None,
) -> PatchParams:
    """Draw N crops of crop_size and their perspective warps, spread evenly over num_images images (CPU tensors).

    positions: where a mask allows crops in each of the num_images images (mask.patch_positions); None: anywhere.
    """
    height, width = image_hw
    if crop_size > min(height, width):
        raise CLIPstylerError(
            f"crop_size {crop_size} is larger than the image ({width}x{height} px at the processing size): "
            "lower crop_size or raise size"
        )
    image_index = torch.arange(n) % num_images
    if positions is None:
        top = torch.randint(0, height - crop_size + 1, (n,), generator=generator)
        left = torch.randint(0, width - crop_size + 1, (n,), generator=generator)
    else:
        top, left = positions.draw(image_index, generator)
    end = perspective_corners(n, crop_size, distortion, generator)
    coeffs = perspective_coefficients(start_points(crop_size).expand(n, 4, 2), end)
    return PatchParams(image_index, top, left, end, coeffs, crop_size)


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


def perspective_grid(coeffs: torch.Tensor, size: int, dtype: torch.dtype) -> torch.Tensor:
    """torchvision's _perspective_grid for a batch: (N, 8) -> (N, size, size, 2) grid_sample coordinates.

    Each output pixel's centre (x + 0.5, y + 0.5) goes through the coefficients, a to f first divided by size / 2 as
    torchvision divides them, giving [-1, 1] coordinates for grid_sample(align_corners=False). Computed elementwise:
    torchvision's matrix product to float rounding (bit for bit on the CPU measured), and ten times faster than a
    batched matrix product with an inner size of 3.
    """
    n = coeffs.shape[0]
    coeffs = coeffs.to(dtype)
    centres = torch.linspace(0.5, size - 0.5, steps=size, device=coeffs.device, dtype=dtype)
    x, y = centres.view(1, 1, size), centres.view(1, size, 1)
    a, b, c, d, e, f = (coeffs[:, :6] / (0.5 * size)).view(n, 6, 1, 1).unbind(1)
    g, h = coeffs[:, 6:].view(n, 2, 1, 1).unbind(1)
    denominator = x * g + y * h + 1.0
    grid_x = (x * a + y * b + c) / denominator - 1.0
    grid_y = (x * d + y * e + f) / denominator - 1.0
    return torch.stack([grid_x, grid_y], dim=-1)


def warp_crops(crops: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """torchvision's perspective(fill=0, bilinear) on every crop at once: (N, C, S, S), (N, 8) -> (N, C, S, S).

    torchvision warps a ones-mask along with the image and blends the fill in with it (img * mask + (1 - mask) *
    fill), so with fill 0 border pixels, already faded by the zero padding, are multiplied by the mask once more.
    """
    grid = perspective_grid(coeffs, crops.shape[-1], crops.dtype)
    warped = F.grid_sample(crops, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    with torch.no_grad():  # the mask does not depend on the image
        ones = torch.ones_like(crops[:, :1])
        mask = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return warped * mask


def augment_crops(images: torch.Tensor, params: PatchParams, out_size: int) -> torch.Tensor:
    """Crop, warp (fill 0, bilinear) and resize every crop to out_size: (B, C, H, W) -> (N, C, out, out).

    The resize is bilinear without antialiasing, as Resize(224) on a tensor in the torchvision the authors used
    (0.8); today's Resize antialiases by default, which changes an upscale (128 -> 224) by about 4e-6.
    """
    crops = cut_crops(images, params)
    warped = warp_crops(crops, params.coeffs.to(crops.device))
    if out_size == params.crop_size:
        return warped
    return F.interpolate(warped, size=(out_size, out_size), mode="bilinear", align_corners=False)
