"""The crop warp replayed against torchvision's own perspective, crop by crop, as the reference calls it.

The reference (train_CLIPstyler.py) warps each crop with RandomPerspective(fill=0, p=1, distortion_scale=0.5), i.e.
torchvision.transforms.functional.perspective(crop, startpoints, endpoints, BILINEAR, fill=[0.0] * 3), then
Resize(224). Given the same crops and end points, augment_crops must give the same pixels.
"""

import pytest
import torch
from torchvision import transforms
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from clipstyler.augment import augment_crops, cut_crops, perspective_grid, sample_patch_params


def params(n: int = 12, size: int = 24, hw: tuple[int, int] = (40, 52), images: int = 1, distortion: float = 0.5):
    return sample_patch_params(n, hw, size, distortion, images, torch.Generator().manual_seed(3))


def torchvision_warps(crops: torch.Tensor, p) -> torch.Tensor:
    """torchvision's perspective on each crop alone, with the reference's arguments: (N, C, S, S) -> (N, C, S, S)."""
    fill = [0.0] * crops.shape[1]  # RandomPerspective turns fill=0 into one value per channel
    return torch.cat([TF.perspective(crops[i:i + 1], *p.corner_points(i), InterpolationMode.BILINEAR, fill)
                      for i in range(len(p))])


@pytest.mark.parametrize("size, distortion", [(24, 0.5), (17, 0.5), (32, 1.0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_warp_replays_torchvision_perspective(size, distortion, dtype):
    p = params(size=size, distortion=distortion, images=2)
    images = torch.rand(2, 3, 40, 52, dtype=dtype, generator=torch.Generator().manual_seed(0))
    expected = torchvision_warps(cut_crops(images, p), p)
    torch.testing.assert_close(augment_crops(images, p, size), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("antialias", [False, True])
def test_warp_and_resize_replay_the_reference_pipeline(antialias):
    """Resize(224) on a tensor: no antialiasing in the authors' torchvision 0.8, antialiased by default today; an
    upscale (here 24 -> 56, like 128 -> 224) differs by a few 1e-6 between the two."""
    p = params()
    images = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(1))
    resize = transforms.Resize(56, antialias=antialias)
    expected = resize(torchvision_warps(cut_crops(images, p), p))
    torch.testing.assert_close(augment_crops(images, p, 56), expected, rtol=0, atol=1e-5)


def test_coefficients_are_torchvisions():
    get_coeffs = getattr(TF, "_get_perspective_coeffs", None)
    if get_coeffs is None:
        pytest.skip("this torchvision has no _get_perspective_coeffs")
    p = params(n=40)
    expected = torch.tensor([get_coeffs(*p.corner_points(i)) for i in range(len(p))], dtype=torch.float32)
    torch.testing.assert_close(p.coeffs, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("size", [24, 17, 100])
def test_grid_is_torchvisions(size):
    try:
        from torchvision.transforms._functional_tensor import _perspective_grid
    except ImportError:
        pytest.skip("this torchvision has no _functional_tensor._perspective_grid")
    p = params(n=8, size=size, hw=(120, 120))
    expected = torch.cat([_perspective_grid(p.coeffs[i].tolist(), size, size, torch.float32, torch.device("cpu"))
                          for i in range(len(p))])
    torch.testing.assert_close(perspective_grid(p.coeffs, size, torch.float32), expected, rtol=0, atol=1e-6)
