import math

import torch

from clipstyler.losses import total_variation_loss


def test_hand_computed_2x2():
    image = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # dx = (-1, -2), dy = (-2, -3), diag1 = (2 - 1), diag2 = (0 - 4): four un-squared norms
    expected = math.sqrt(5) + math.sqrt(13) + 1 + 4
    assert math.isclose(total_variation_loss(image).item(), expected, rel_tol=1e-6)


def test_constant_image_is_zero():
    assert total_variation_loss(torch.full((1, 3, 8, 8), 0.3)).item() == 0.0


def test_grows_with_sqrt_of_pixels_not_mean():
    tile = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    small = tile.repeat(4, 4)[None, None]  # 8x8 checkerboard
    large = tile.repeat(16, 16)[None, None]  # 32x32: about 16x the differences -> about 4x the norm
    ratio = total_variation_loss(large) / total_variation_loss(small)
    assert 3.5 < ratio.item() < 4.5


def test_batch_is_mean_of_images():
    a, b = torch.rand(1, 3, 6, 6), torch.rand(1, 3, 6, 6)
    batch = total_variation_loss(torch.cat([a, b]))
    assert torch.allclose(batch, (total_variation_loss(a) + total_variation_loss(b)) / 2)


def test_gradient(check_gradients):
    # random pixels: no difference vector is zero, where the norm has no gradient
    image = torch.rand(2, 3, 5, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    check_gradients(total_variation_loss, (image,))
