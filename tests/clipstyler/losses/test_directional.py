import math

import pytest
import torch
import torch.nn.functional as F

from clipstyler.losses import directional_loss, patch_directional_loss, per_patch_directional_loss

SOURCE = torch.tensor([[1.0, 0.0]])
TEXT = torch.tensor([0.0, 1.0])


def test_hand_computed_global_loss():
    # change (0,1) - (1,0) = (-1, 1)/sqrt(2); cos with (0, 1) = 1/sqrt(2)
    loss = directional_loss(torch.tensor([[0.0, 1.0]]), SOURCE, TEXT)
    assert loss.item() == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-6)


def test_embeddings_are_normalised_first():
    scaled = directional_loss(torch.tensor([[0.0, 7.0]]), SOURCE * 3, TEXT)
    assert scaled.item() == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-6)


def test_threshold_zeroes_exactly_the_crops_below_tau():
    patches = torch.tensor([[0.0, 1.0], [0.0, -1.0], [-1.0, 0.0]])
    # losses: 1 - 1/sqrt2 = 0.293 (below 0.7: rejected), 1 + 1/sqrt2 = 1.707, and (-1,0)-(1,0) -> (-1,0): 1 - 0 = 1
    losses = per_patch_directional_loss(patches, SOURCE, TEXT, threshold=0.7)
    assert losses.tolist() == pytest.approx([0.0, 1 + 1 / math.sqrt(2), 1.0], abs=1e-6)
    # the mean is still over all crops, rejected ones included
    mean = patch_directional_loss(patches, SOURCE, TEXT, threshold=0.7)
    assert mean.item() == pytest.approx((1 + 1 / math.sqrt(2) + 1.0) / 3, abs=1e-6)


def test_threshold_zero_keeps_everything():
    patches = torch.tensor([[0.0, 1.0], [0.0, -1.0]])
    losses = per_patch_directional_loss(patches, SOURCE, TEXT, threshold=0.0)
    assert losses.tolist() == pytest.approx([1 - 1 / math.sqrt(2), 1 + 1 / math.sqrt(2)], abs=1e-6)


def test_identical_image_has_zero_change():
    # The reference divides 0 by 0 here (NaN); a zero change gives cos 0, loss 1, and finite gradients.
    image = SOURCE.clone().requires_grad_(True)
    loss = directional_loss(image, SOURCE, TEXT)
    assert loss.item() == pytest.approx(1.0)
    loss.backward()
    assert torch.isfinite(image.grad).all()


def test_each_patch_uses_its_own_source():
    patches = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    sources = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    losses = per_patch_directional_loss(patches, sources, TEXT, threshold=0.0)
    assert losses.tolist() == pytest.approx([1 - 1 / math.sqrt(2), 1.0], abs=1e-6)


def embeddings(seed=8, crops=6, dim=5):
    """Patch and source embeddings and a unit text direction; seed 8 puts every per-crop loss at least 0.04 from
    tau = 0.7 on either side, with some crops kept and some rejected, for a source per crop and for one shared."""
    generator = torch.Generator().manual_seed(seed)
    patches = torch.randn(crops, dim, generator=generator, dtype=torch.float64)
    sources = torch.randn(crops, dim, generator=generator, dtype=torch.float64)
    text = F.normalize(torch.randn(dim, generator=generator, dtype=torch.float64), dim=0)
    return patches, sources, text


def test_gradient_of_the_global_loss(check_gradients):
    patches, sources, text = embeddings()
    check_gradients(directional_loss, (patches, sources, text))


@pytest.mark.parametrize("shared_source", [False, True], ids=["source-per-crop", "shared-source"])
def test_gradient_of_the_patch_loss_with_threshold(check_gradients, shared_source):
    patches, sources, text = embeddings()
    if shared_source:
        sources = sources[:1]
    raw = per_patch_directional_loss(patches, sources, text, threshold=0.0)  # before the cut
    assert ((raw - 0.7).abs() > 0.04).all(), "an input near the cut, where the loss jumps"
    assert (raw < 0.7).any() and (raw > 0.7).any(), "the check must cover kept and rejected crops"

    def per_patch(p, s, t):
        return per_patch_directional_loss(p, s, t, threshold=0.7)

    def mean(p, s, t):
        return patch_directional_loss(p, s, t, threshold=0.7)

    check_gradients(per_patch, (patches, sources, text))
    check_gradients(mean, (patches, sources, text))
