"""A flow-free temporal term for video: the stylization should move with the image (our addition, not the paper's).

ReReVST's compound regularisation (Wang et al., "Consistent Video Style Transfer via Relaxation and Regularization",
TIP 2020, github.com/daooshee/ReReVST-Code): warp a training image x by a random smooth flow W and add slight noise
n; the net F should then give the warped stylization:

    L_temp = masked mean of (W(F(x)) - F(W(x) + n))^2        (clipstyler/losses/temporal.py)

It needs no optical flow at training or inference time and costs one extra net pass (forward and backward) per
step, no CLIP pass. The flow (`random_smooth_flow`) is ReReVST's recipe: random vectors on a coarse grid (one per
100 px), upsampled, plus a global shift, blurred. Differences from ReReVST's code: a squared difference (theirs L1),
so the term trains what the warping error (clipstyler/warping_error.py) scores; bilinear sampling (theirs nearest);
and the pixels whose flow leaves the image are left out of the mean (theirs replicate the border into the loss).

Flows are (B, 2, H, W) in pixels, (dx, dy) per pixel: warp(image, flow) at pixel p samples image at p + flow(p),
pixel centres at integer coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .losses.temporal import temporal_consistency_loss

TEMPORAL_LOSS = "temporal"  # the term's key in a step's loss dict, present only when the term is on
FLOW_CELL = 100  # px between the coarse grid's random vectors, as ReReVST's height // 100 x width // 100 grid
# The term's draws get their own generator, seeded from the run's seed and this, so switching the term on leaves
# every patch, crop and view of the run as it was: a clean A/B of the term.
SEED_OFFSET = 0x7E3D


def pixel_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(1, 2, H, W) every pixel's own (x, y) coordinate."""
    ys, xs = torch.meshgrid(torch.arange(height, device=device, dtype=dtype),
                            torch.arange(width, device=device, dtype=dtype), indexing="ij")
    return torch.stack([xs, ys])[None]


def _sample_points(flow: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) where each pixel samples: p + flow(p)."""
    return pixel_grid(*flow.shape[-2:], flow.device, flow.dtype) + flow


def warp(image: torch.Tensor, flow: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """Backward warp: output(p) = image(p + flow(p)), bilinear. Differentiable in image (and flow).

    Args:
        image: (B, C, H, W).
        flow: (B, 2, H, W) or (1, 2, H, W), in pixels, (dx, dy).
        padding_mode: grid_sample's, for points outside the image ("border" repeats the edge, as ReReVST does).

    Returns:
        (B, C, H, W); pixels whose point lies outside the image are padding (see `valid_mask`).
    """
    height, width = image.shape[-2:]
    if tuple(flow.shape[-2:]) != (height, width) or flow.shape[1] != 2:
        raise ValueError(f"warp needs a (B, 2, {height}, {width}) flow for a {tuple(image.shape)} image, got "
                         f"{tuple(flow.shape)}")
    points = _sample_points(flow.to(image.dtype))
    # pixel x -> grid_sample's [-1, 1] with align_corners=False: pixel centres at (2x + 1) / W - 1
    scale = torch.tensor([2.0 / width, 2.0 / height], device=image.device, dtype=image.dtype).view(1, 2, 1, 1)
    grid = ((points + 0.5) * scale - 1.0).permute(0, 2, 3, 1)
    grid = grid.expand(image.shape[0], -1, -1, -1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


def valid_mask(flow: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) 1.0 where p + flow(p) lies inside the image (between the outer pixel centres), else 0.0."""
    points = _sample_points(flow)
    height, width = flow.shape[-2:]
    inside = ((points[:, 0] >= 0) & (points[:, 0] <= width - 1) & (points[:, 1] >= 0) & (points[:, 1] <= height - 1))
    return inside[:, None].to(flow.dtype)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (kernel radius 2 sigma, edges replicated): (B, C, H, W) -> (B, C, H, W)."""
    radius = max(1, int(2 * sigma + 0.5))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    rows = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    blurred = F.conv2d(F.pad(images, (radius, radius, 0, 0), mode="replicate"), rows, groups=channels)
    return F.conv2d(F.pad(blurred, (0, 0, radius, radius), mode="replicate"), rows.transpose(2, 3), groups=channels)


def random_smooth_flow(batch: int, height: int, width: int, motion: float,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """ReReVST's random smooth flow: (B, 2, H, W) in pixels, on the CPU.

    Per image: random vectors N(0, motion^2) on a coarse grid (one per FLOW_CELL px, at least 1 x 1), upsampled
    bilinearly, plus one global shift uniform in [-motion, motion] per axis, then blurred (Gaussian, sigma half a
    cell). The blur and the grid work at 1/8 of the size (cheap at any size); a last bilinear upsampling brings the
    flow to full size. motion 0 gives the zero flow.
    """
    grid_h, grid_w = max(1, height // FLOW_CELL), max(1, width // FLOW_CELL)
    coarse = torch.randn(batch, 2, grid_h, grid_w, generator=generator) * motion
    shift = (torch.rand(batch, 2, 1, 1, generator=generator) * 2 - 1) * motion
    small = (max(1, -(-height // 8)), max(1, -(-width // 8)))
    flow = F.interpolate(coarse, size=small, mode="bilinear", align_corners=False) + shift
    flow = gaussian_blur(flow, sigma=FLOW_CELL / 16)  # half a cell, at 1/8 scale
    return F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)


@dataclass(frozen=True)
class TemporalDraw:
    """One step's random motion and noise. flow: (B, 2, H, W) in pixels; noise: (B, C, H, W)."""

    flow: torch.Tensor
    noise: torch.Tensor

    def to(self, device: torch.device | str) -> TemporalDraw:
        return TemporalDraw(self.flow.to(device, non_blocking=True), self.noise.to(device, non_blocking=True))


def sample_temporal_draw(shape: torch.Size | tuple[int, ...], motion: float, noise_std: float,
                         generator: torch.Generator | None = None) -> TemporalDraw:
    """A flow (random_smooth_flow) and Gaussian noise of std noise_std for images of shape (B, C, H, W), on the
    CPU (a seeded generator gives the same draw on every device)."""
    batch, channels, height, width = shape
    flow = random_smooth_flow(batch, height, width, motion, generator)
    noise = torch.randn(batch, channels, height, width, generator=generator) * noise_std
    return TemporalDraw(flow, noise)


def temporal_term(net: nn.Module, images: torch.Tensor, output: torch.Tensor, draw: TemporalDraw) -> torch.Tensor:
    """L_temp for one step, with one extra pass of net on the warped images (differentiable in net's weights).

    Args:
        net: the net being trained, (B, 3, H, W) -> (B, 3, H, W).
        images: (B, 3, H, W) the step's input images (constants).
        output: net(images), with its graph.
        draw: the step's flow and noise, on images' device.

    Returns:
        Scalar: temporal_consistency_loss(warp(output), net(warp(images) + noise), valid_mask(flow)).
    """
    moved = warp(images, draw.flow) + draw.noise
    if not images.is_contiguous() and images.is_contiguous(memory_format=torch.channels_last):
        moved = moved.contiguous(memory_format=torch.channels_last)  # the same layout as the step's own pass
    return temporal_consistency_loss(warp(output, draw.flow), net(moved), valid_mask(draw.flow))


def with_temporal(terms: dict, temporal: torch.Tensor | None, weight: float) -> dict:
    """An objective's terms with the temporal term's value and its weighted share of the total (as given if None)."""
    if temporal is not None:
        terms[TEMPORAL_LOSS] = temporal
        terms["total"] = terms["total"] + weight * temporal
    return terms


def backward_with_temporal(output: torch.Tensor, output_grad: torch.Tensor, temporal: torch.Tensor | None,
                           weight: float, scale=lambda loss: loss) -> None:
    """output.backward(output_grad), with the weighted temporal term's gradient added in the same backward pass: the
    net's graph behind output is traversed once for both (scale: a GradScaler's, as for the other terms)."""
    if temporal is None:
        output.backward(output_grad)
    else:
        torch.autograd.backward([output, scale(weight * temporal)], [output_grad, None])


class TemporalRegulariser:
    """The term during a training run: draws each step's flow and noise from its own seeded generator.

    Call it as regulariser(net, images, output) after output = net(images); it returns the unweighted term.
    """

    def __init__(self, motion: float, noise_std: float, seed: int) -> None:
        self.motion, self.noise_std = motion, noise_std
        self.generator = torch.Generator().manual_seed((seed + SEED_OFFSET) % 2**64)

    def __call__(self, net: nn.Module, images: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        draw = sample_temporal_draw(images.shape, self.motion, self.noise_std, self.generator)
        return temporal_term(net, images, output, draw.to(images.device))


def temporal_regulariser(settings) -> TemporalRegulariser | None:
    """The run's regulariser from its settings (StyleSettings or FastSettings), or None when lambda_temporal is 0:
    then nothing is drawn or computed, and the run is exactly the paper's."""
    if settings.lambda_temporal == 0:
        return None
    return TemporalRegulariser(settings.temporal_motion, settings.temporal_noise, settings.seed)
