"""The perspective warp checked against a torch-only reference, not against kornia itself.

test_augment.py and test_objective.py compare kornia with kornia, so a kornia version whose homography or sampling
differed would pass them; these pin what augment_crops must compute whatever kornia is installed.
"""

import torch
import torch.nn.functional as F

from clipstyler.augment import augment_crops, cut_crops, sample_patch_params


def apply_homography(homography: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) x (N, P, 2) pixel (x, y) points -> (N, P, 2), in homogeneous coordinates."""
    ones = torch.ones(*points.shape[:-1], 1, dtype=points.dtype)
    mapped = torch.cat([points, ones], dim=-1) @ homography.transpose(1, 2)
    return mapped[..., :2] / mapped[..., 2:]


def reference_warp(crops: torch.Tensor, homography: torch.Tensor) -> torch.Tensor:
    """Each output pixel samples the crop at H^-1 (x, y): bilinear, zeros outside, pixel centres at -1 and 1."""
    n, _, size, _ = crops.shape
    steps = torch.arange(size, dtype=torch.float64)
    y, x = torch.meshgrid(steps, steps, indexing="ij")
    pixels = torch.stack([x, y], dim=-1).reshape(1, -1, 2).expand(n, -1, -1)
    source = apply_homography(torch.linalg.inv(homography.double()), pixels)
    grid = (source / (size - 1) * 2 - 1).reshape(n, size, size, 2).to(crops.dtype)
    return F.grid_sample(crops, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def params(n: int = 6, size: int = 24):
    return sample_patch_params(n, (40, 40), size, generator=torch.Generator().manual_seed(3))


def test_homography_sends_the_crop_corners_to_the_drawn_corners():
    p = params()
    last = p.crop_size - 1
    corners = torch.tensor([[0.0, 0.0], [last, 0.0], [last, last], [0.0, last]]).expand(len(p), 4, 2)
    moved = apply_homography(p.homography.double(), corners.double())
    assert torch.allclose(moved, moved.round(), atol=1e-4)  # integer corner offsets
    assert 0 < (moved - corners).abs().max() <= p.crop_size // 4 + 1  # torchvision's reach for distortion 0.5


def test_warp_matches_a_torch_only_reference():
    p = params()
    images = torch.rand(1, 3, 40, 40, dtype=torch.float64)
    ours = augment_crops(images, p, p.crop_size)
    expected = reference_warp(cut_crops(images, p), p.homography)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-4)  # some kornia versions sample in float32
