import math

import pytest
import torch

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
