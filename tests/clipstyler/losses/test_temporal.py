import pytest
import torch

from clipstyler.losses.temporal import temporal_consistency_loss


def test_hand_computed_masked_mean():
    a = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]], [[1.0, 1.0], [1.0, 1.0]]]])  # (1, 2, 2, 2)
    b = torch.tensor([[[[1.0, 1.0], [0.0, 3.0]], [[1.0, 0.0], [4.0, 1.0]]]])
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 1.0]]]])  # the bottom-left pixel left out
    # kept squared differences: channel 0: 1, 0, 0; channel 1: 0, 1, 0 -> 2 over 3 pixels x 2 channels
    assert temporal_consistency_loss(a, b, mask).item() == pytest.approx(2 / 6)


def test_empty_mask_is_zero_not_nan():
    a, b = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    assert temporal_consistency_loss(a, b, torch.zeros(1, 1, 4, 4)).item() == 0.0


def test_shapes_must_match():
    with pytest.raises(ValueError, match=r"\(1, 3, 4, 4\) and \(1, 3, 4, 5\)"):
        temporal_consistency_loss(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5), torch.ones(1, 1, 4, 4))


def test_gradient(check_gradients):
    generator = torch.Generator().manual_seed(0)
    mask = (torch.rand(2, 1, 5, 6, generator=generator) > 0.3).double()
    a, b = torch.rand(2, 3, 5, 6, generator=generator), torch.rand(2, 3, 5, 6, generator=generator)
    check_gradients(lambda x, y: temporal_consistency_loss(x, y, mask.to(x.dtype)), (a, b))
