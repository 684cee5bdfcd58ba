import pytest
import torch
import torch.nn.functional as F

from clipstyler.augment import (
    augment_crops,
    cut_crops,
    perspective_coefficients,
    perspective_grid,
    sample_patch_params,
    start_points,
    warp_crops,
)
from clipstyler.errors import CLIPstylerError


def params(n=6, hw=(48, 64), crop=16, distortion=0.5, images=1, seed=0):
    return sample_patch_params(n, hw, crop, distortion, images, torch.Generator().manual_seed(seed))


def apply_coefficients(coeffs: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(N, 8) torchvision coefficients on (N, P, 2) (x, y) points -> (N, P, 2)."""
    a, b, c, d, e, f, g, h = coeffs.double().unbind(-1)
    x, y = points.double().unbind(-1)
    denominator = g[:, None] * x + h[:, None] * y + 1
    return torch.stack([(a[:, None] * x + b[:, None] * y + c[:, None]) / denominator,
                        (d[:, None] * x + e[:, None] * y + f[:, None]) / denominator], dim=-1)


def test_crops_are_the_image_slices():
    images = torch.rand(2, 3, 48, 64)
    p = params(images=2)
    crops = cut_crops(images, p)
    for i in range(len(p)):
        b, top, left = int(p.image_index[i]), int(p.top[i]), int(p.left[i])
        assert torch.equal(crops[i], images[b, :, top:top + 16, left:left + 16])


def test_end_points_lie_within_torchvision_bounds():
    p = params(n=200, crop=16, distortion=0.5)
    reach = int(0.5 * 8)  # torchvision: randint(0, int(distortion * half) + 1), and mirrored from size - 1
    offsets = (p.endpoints - start_points(16)).abs()
    assert torch.equal(p.endpoints, p.endpoints.round())  # integer points, as torchvision draws them
    assert offsets.max() == reach and offsets.min() == 0  # every value of the range is drawn in 200 crops


def test_coefficients_send_the_end_points_back_to_the_crop_corners():
    p = params(n=50, crop=16)
    corners = start_points(16).expand(50, 4, 2)
    assert torch.allclose(apply_coefficients(p.coeffs, p.endpoints), corners.double(), atol=1e-4)
    assert p.coeffs.dtype == torch.float32


def test_coefficients_of_unmoved_corners_are_the_identity():
    corners = start_points(16).expand(3, 4, 2)
    identity = torch.tensor([1.0, 0, 0, 0, 1, 0, 0, 0]).expand(3, 8)
    assert torch.allclose(perspective_coefficients(corners, corners), identity, atol=1e-6)


def test_zero_distortion_is_identity():
    images = torch.rand(1, 3, 32, 32)
    p = params(n=4, hw=(32, 32), crop=16, distortion=0.0)
    assert torch.allclose(augment_crops(images, p, 16), cut_crops(images, p), atol=1e-5)


def test_batched_warp_equals_one_crop_at_a_time():
    images = torch.rand(2, 3, 48, 64)
    p = params(images=2)
    batched = augment_crops(images, p, 24)
    for i in range(len(p)):
        single = augment_crops(images, p.select(slice(i, i + 1)), 24)
        assert torch.allclose(batched[i:i + 1], single, atol=1e-6)


def test_outside_of_the_warp_is_filled_with_zero():
    out = augment_crops(torch.ones(1, 3, 64, 64), params(n=32, hw=(64, 64), crop=32, distortion=1.0), 32)
    assert out.min() < 1e-6 and out.max() > 0.99


def test_border_is_faded_twice_as_torchvision_blends_its_fill():
    """A constant crop: grid_sample's zero padding fades the border by the mask m, the fill blend by m again."""
    p = params(n=8, hw=(32, 32), crop=32, distortion=1.0)
    ones = torch.ones(8, 1, 32, 32)
    mask = F.grid_sample(ones, perspective_grid(p.coeffs, 32, torch.float32), align_corners=False)
    partial = (mask > 0.05) & (mask < 0.95)
    assert partial.any()
    torch.testing.assert_close(warp_crops(ones.expand(8, 3, 32, 32), p.coeffs), (mask * mask).expand(8, 3, 32, 32))


def test_gradients_flow_to_the_image():
    images = torch.rand(1, 3, 32, 32, requires_grad=True)
    augment_crops(images, params(n=4, hw=(32, 32)), 24).sum().backward()
    assert images.grad.abs().sum() > 0


def test_warp_passes_gradcheck():
    p = params(n=5, hw=(20, 18), crop=9, distortion=0.8, images=2)
    images = torch.rand(2, 3, 20, 18, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: augment_crops(x, p, 13), (images,))
    assert torch.autograd.gradcheck(lambda x: augment_crops(x, p, 9), (images,))


def test_crop_larger_than_image_is_a_clear_error():
    with pytest.raises(CLIPstylerError, match="crop_size"):
        params(hw=(20, 64), crop=32)


def test_same_seed_same_params():
    a, b = params(seed=3), params(seed=3)
    assert torch.equal(a.top, b.top) and torch.equal(a.endpoints, b.endpoints) and torch.equal(a.coeffs, b.coeffs)


def test_select_and_to_keep_every_field():
    p = params(n=6)
    part = p.select(slice(2, 4)).to("cpu")
    assert len(part) == 2 and part.crop_size == p.crop_size
    assert torch.equal(part.endpoints, p.endpoints[2:4]) and torch.equal(part.coeffs, p.coeffs[2:4])
    assert part.corner_points(0) == p.corner_points(2)


def plain_gather(images, p):
    """The crops' gather with autograd's own backward (index_put_ with accumulate)."""
    steps = torch.arange(p.crop_size)
    rows, cols = (p.top[:, None] + steps)[:, :, None], (p.left[:, None] + steps)[:, None, :]
    return images.permute(0, 2, 3, 1)[p.image_index[:, None, None], rows, cols].permute(0, 3, 1, 2)


def test_crop_gradient_is_the_plain_gathers_and_passes_gradcheck():
    p = params(n=12, hw=(24, 20), crop=8, images=2)
    images = torch.rand(2, 3, 24, 20, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: cut_crops(x, p), (images,))
    upstream = torch.randn(12, 3, 8, 8, dtype=torch.float64)
    ours, = torch.autograd.grad(cut_crops(images, p), images, upstream)
    plain, = torch.autograd.grad(plain_gather(images, p), images, upstream)
    assert torch.allclose(ours, plain, rtol=0, atol=1e-12)


def test_crop_gradient_is_bit_identical_across_runs_and_threads():
    """Overlapping crops' gradients used to be added by parallel atomic adds: runs differed in the last bits."""
    p = sample_patch_params(64, (256, 256), 128, generator=torch.Generator().manual_seed(0))
    images = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    upstream = torch.randn(64, 3, 128, 128, generator=torch.Generator().manual_seed(2))
    threads, gradients = torch.get_num_threads(), []
    try:
        for count in (1, 2, 2, 2):
            torch.set_num_threads(count)
            x = images.clone().requires_grad_(True)
            cut_crops(x, p).backward(upstream)
            gradients.append(x.grad)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(gradients[0], g) for g in gradients[1:])
