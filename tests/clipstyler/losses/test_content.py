import pytest
import torch

from clipstyler.losses import content_loss


def test_hand_computed_sum_of_layer_mses():
    out = [torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0]])]
    ref = [torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0]])]
    assert content_loss(out, ref).item() == pytest.approx((1 + 4) / 2 + 4)


def test_identical_features_give_zero():
    features = [torch.rand(1, 4, 5, 5), torch.rand(1, 8, 2, 2)]
    assert content_loss(features, [f.clone() for f in features]).item() == 0.0


def test_layer_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match="layers"):
        content_loss([torch.zeros(1)], [])


def test_gradient_in_both_feature_lists(check_gradients):
    generator = torch.Generator().manual_seed(0)
    shapes = [(2, 3, 4, 4), (2, 5, 2, 2), (2, 3, 4, 4), (2, 5, 2, 2)]
    features = [torch.randn(shape, generator=generator, dtype=torch.float64) for shape in shapes]
    check_gradients(lambda out_a, out_b, ref_a, ref_b: content_loss([out_a, out_b], [ref_a, ref_b]), features)
