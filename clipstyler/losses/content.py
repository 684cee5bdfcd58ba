"""Content loss: VGG-19 feature MSE, stylized vs content image, relu4_2 + relu5_2 (docs/METHOD.md, "Content loss")."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .precision import at_least_float32


def content_loss(output_features: Sequence[torch.Tensor], content_features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean squared error between feature maps.

    Args:
        output_features: per layer, (B, C_l, H_l, W_l) features of the stylized image.
        content_features: the same layers of the content image (computed once, no gradient).

    Returns:
        Scalar: sum_l mean((F_l(I_cs) - F_l(I_c))^2).
    """
    if len(output_features) != len(content_features):
        raise ValueError(f"content_loss got {len(output_features)} output and {len(content_features)} content layers")
    return sum(F.mse_loss(at_least_float32(o), at_least_float32(c)) for o, c in zip(output_features, content_features))
