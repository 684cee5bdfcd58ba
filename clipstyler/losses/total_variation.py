"""Total variation as the authors' code computes it (docs/METHOD.md, "Total variation")."""

from __future__ import annotations

import torch

from .precision import at_least_float32


def total_variation_loss(image: torch.Tensor) -> torch.Tensor:
    """||dx||_2 + ||dy||_2 + ||d_diag1||_2 + ||d_diag2||_2, each an un-squared Frobenius norm over the whole tensor.

    It is not averaged over pixels, so it grows with sqrt(pixels); with a batch it is the mean of the per-image
    values (equal to the reference for one image).

    Args:
        image: (B, C, H, W).

    Returns:
        Scalar.
    """
    x = at_least_float32(image)
    differences = (
        x[:, :, :, :-1] - x[:, :, :, 1:],
        x[:, :, :-1, :] - x[:, :, 1:, :],
        x[:, :, 1:, :-1] - x[:, :, :-1, 1:],
        x[:, :, :-1, :-1] - x[:, :, 1:, 1:],
    )
    per_image = sum(d.flatten(1).norm(dim=1) for d in differences)
    return per_image.mean()


def batch_total_variation_loss(images: torch.Tensor) -> torch.Tensor:
    """The same four norms, each taken over the whole batch at once, as the authors' fast training computes them
    (train_fast.py's get_image_prior_losses on a batch): sqrt of the sum over images, not a mean per image.

    Args:
        images: (B, C, H, W).

    Returns:
        Scalar; equal to total_variation_loss for B = 1.
    """
    x = at_least_float32(images)
    differences = (
        x[:, :, :, :-1] - x[:, :, :, 1:],
        x[:, :, :-1, :] - x[:, :, 1:, :],
        x[:, :, 1:, :-1] - x[:, :, :-1, 1:],
        x[:, :, :-1, :-1] - x[:, :, 1:, 1:],
    )
    return sum(d.norm() for d in differences)
