"""Directional CLIP losses: the image's change in CLIP space should point along the text's change.

With every embedding L2-normalised (docs/METHOD.md, "Directional losses"):
    global: L_dir   = 1 - cos(normalise(E_I(I_cs) - s), dt)
    patch:  l_i     = 1 - cos(normalise(E_I(aug(crop_i(I_cs))) - s), dt);  l_i := 0 where l_i < tau
            L_patch = mean(l_i) over all crops (rejected ones count as zeros)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .precision import at_least_float32


def _direction(image_embeddings: torch.Tensor, source_embeddings: torch.Tensor) -> torch.Tensor:
    """normalise(normalise(e) - normalise(s)) row by row: (N, D), (N, D) -> (N, D)."""
    change = F.normalize(image_embeddings, dim=-1) - F.normalize(source_embeddings, dim=-1)
    return F.normalize(change, dim=-1)


def per_patch_directional_loss(
    patch_embeddings: torch.Tensor,
    source_embeddings: torch.Tensor,
    text_direction: torch.Tensor,
    threshold: float,
) -> torch.Tensor:
    """Per-crop losses l_i with threshold rejection.

    Args:
        patch_embeddings: (N, D) CLIP image embeddings of the augmented crops.
        source_embeddings: (N, D) or (1, D) embedding of the content image each crop was cut from.
        text_direction: (D,) unit text direction dt.
        threshold: tau; crops whose loss is below it contribute zero.

    Returns:
        (N,) losses in [0, 2], zero where rejected.
    """
    source = source_embeddings.expand_as(patch_embeddings)
    cosine = _direction(at_least_float32(patch_embeddings), at_least_float32(source)) @ at_least_float32(
        text_direction)
    losses = 1.0 - cosine
    return torch.where(losses < threshold, torch.zeros_like(losses), losses)


def patch_directional_loss(
    patch_embeddings: torch.Tensor,
    source_embeddings: torch.Tensor,
    text_direction: torch.Tensor,
    threshold: float,
) -> torch.Tensor:
    """L_patch: the mean of per-crop losses over all N crops, rejected ones included as zeros. Scalar."""
    return per_patch_directional_loss(patch_embeddings, source_embeddings, text_direction, threshold).mean()


def directional_loss(
    image_embeddings: torch.Tensor, source_embeddings: torch.Tensor, text_direction: torch.Tensor
) -> torch.Tensor:
    """L_dir on (B, D) global-view embeddings against their (B, D) sources; the mean over the batch. Scalar."""
    cosine = _direction(at_least_float32(image_embeddings), at_least_float32(source_embeddings)) @ at_least_float32(
        text_direction)
    return (1.0 - cosine).mean()
