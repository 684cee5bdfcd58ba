"""How much a stylized video flickers: the warping error of Lai et al. ("Learning Blind Video Temporal Consistency",
ECCV 2018), and a clip with known motion to measure it on.

    E_warp = 1/(T-1) * sum_{t=1}^{T-1} sum(M_t * (W(O_t) - O_{t-1})^2) / sum(M_t)

O_t are the output frames in [0, 1], W(O_t) frame t warped back to frame t-1 with the INPUT video's flow (from
t-1 to t), and M_t the pixels of frame t-1 that are not occluded in frame t. As in Lai et al.'s evaluation code,
the mask is counted per value (pixel and channel), so E_warp is a mean squared difference. The flow is the input's,
not the output's: a stylization that follows the input's motion scores 0.

`synthetic_clip` makes a clip whose flow is exact: a camera pan with a slight zoom over a still image, so no flow
model is needed and the border is the only occlusion.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import CLIPstylerError
from .image import as_image_batch, resize
from .temporal import valid_mask, warp


def warping_error(frames: torch.Tensor, flows: torch.Tensor, masks: torch.Tensor | None = None) -> float:
    """Lai et al.'s warping error of a clip.

    Args:
        frames: (T, C, H, W) output frames, T >= 2.
        flows: (T-1, 2, H, W) the input's flow from frame t-1 to frame t, in pixels (dx, dy) at frame t-1's pixels.
        masks: (T-1, 1, H, W) 1 at the non-occluded pixels of frame t-1; default: where the flow stays in the frame.

    Returns:
        The mean over t of sum(M * (warp(O_t) - O_{t-1})^2) / (C * sum(M)).
    """
    if frames.dim() != 4 or frames.shape[0] < 2:
        raise CLIPstylerError(f"warping_error needs (T, C, H, W) frames with T >= 2, got {tuple(frames.shape)}")
    count = frames.shape[0] - 1
    if tuple(flows.shape) != (count, 2, *frames.shape[-2:]):
        raise CLIPstylerError(f"warping_error needs ({count}, 2, H, W) flows for {frames.shape[0]} frames of "
                              f"{tuple(frames.shape[-2:])}, got {tuple(flows.shape)}")
    frames, flows = frames.double(), flows.double()
    masks = valid_mask(flows) if masks is None else masks.double()
    warped = warp(frames[1:], flows)
    squared = ((warped - frames[:-1]) ** 2 * masks).sum(dim=(1, 2, 3))
    per_pair = squared / (masks.sum(dim=(1, 2, 3)) * frames.shape[1]).clamp_min(1.0)
    return float(per_pair.mean())


@dataclass(frozen=True)
class SyntheticClip:
    """frames: (T, 3, H, W) in [0, 1]; flows: (T-1, 2, H, W) exact flow from frame t-1 to frame t, in pixels;
    masks: (T-1, 1, H, W) 1 where frame t-1's pixel is still in view in frame t (the border is the only
    occlusion)."""

    frames: torch.Tensor
    flows: torch.Tensor
    masks: torch.Tensor


def _view(frame: int, pan: float, zoom: float) -> tuple[float, float]:
    """(canvas px per frame px, the view centre's x offset in canvas px) of a frame."""
    return (1.0 - zoom) ** frame, pan * frame


def synthetic_clip(image: torch.Tensor, frames: int = 24, height: int = 512, width: int | None = None,
                   pan: float = 2.0, zoom: float = 0.005) -> SyntheticClip:
    """A clip of a camera panning over a still image while zooming in slightly, with its exact flow.

    Frame t shows the canvas (the image resized, antialiased, to cover every view at about 1 canvas px per frame
    px) around a centre moved pan * t px to the right, at (1 - zoom)^t canvas px per frame px: the content moves
    about `pan` px left per frame and grows by 1 / (1 - zoom) per frame. Frames are sampled bilinearly.

    Args:
        image: (1, 3, H0, W0) or (3, H0, W0) in [0, 1].
        frames: T >= 2.
        height, width: the frames' size (width defaults to height).
        pan: px per frame; zoom: the view's shrink per frame, in [0, 0.5).
    """
    width = width or height
    image = as_image_batch(image, "image")[:1]
    if frames < 2:
        raise CLIPstylerError(f"a clip needs at least 2 frames, got {frames}")
    if not 0 <= zoom < 0.5 or pan < 0:
        raise CLIPstylerError(f"pan must be >= 0 and zoom in [0, 0.5), got pan {pan} and zoom {zoom}")
    # Canvas: frame 0 at 1 canvas px per frame px, wide enough for the pan (later views are smaller).
    need_w, need_h = width + pan * (frames - 1) + 2, height + 2
    scale = max(need_w / image.shape[-1], need_h / image.shape[-2])
    canvas = resize(image, (int(image.shape[-2] * scale + 1), int(image.shape[-1] * scale + 1)))
    canvas_h, canvas_w = canvas.shape[-2:]
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    left = (canvas_w - need_w) / 2 + 1 + centre_x  # frame 0's centre on the canvas, x; the views fit from there on
    top = (canvas_h - 1) / 2
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                            indexing="ij")
    rendered = []
    for t in range(frames):
        step, offset = _view(t, pan, zoom)
        canvas_x = left + offset + step * (xs - centre_x)
        canvas_y = top + step * (ys - centre_y)
        grid = torch.stack([(2 * canvas_x + 1) / canvas_w - 1, (2 * canvas_y + 1) / canvas_h - 1], dim=-1)
        rendered.append(F.grid_sample(canvas.double(), grid[None], mode="bilinear", padding_mode="border",
                                      align_corners=False))
    flows = []
    for t in range(1, frames):
        (before, offset_before), (after, offset_after) = _view(t - 1, pan, zoom), _view(t, pan, zoom)
        # frame t-1's pixel p shows canvas point q; frame t shows q at p' = centre + (q - its centre) / after
        to_x = centre_x + (offset_before + before * (xs - centre_x) - offset_after) / after
        to_y = centre_y + before * (ys - centre_y) / after
        flows.append(torch.stack([to_x - xs, to_y - ys]))
    flows = torch.stack(flows).float()
    return SyntheticClip(torch.cat(rendered).float().clamp(0, 1), flows, valid_mask(flows))
