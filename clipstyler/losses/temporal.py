"""Temporal consistency loss: a masked mean squared difference between two stylizations of the same scene points
(docs/METHOD.md, "Temporal term for video"; our addition, not the paper's).

    L_temp = sum(M * (W(F(x)) - F(W(x) + n))^2) / (C * sum(M))

W(F(x)) is the stylization warped by a flow, F(W(x) + n) the stylization of the warped (and slightly noised)
image, and M (B, 1, H, W) the pixels whose flow stays inside the image. The same masked mean over (pixel, channel)
values is the warping error of Lai et al. (clipstyler/warping_error.py), so the term trains what the measure scores.
"""

from __future__ import annotations

import torch

from .precision import at_least_float32


def temporal_consistency_loss(warped_output: torch.Tensor, output_of_warped: torch.Tensor,
                              mask: torch.Tensor) -> torch.Tensor:
    """Masked mean squared difference of two images.

    Args:
        warped_output: (B, C, H, W) the stylization, warped by the flow.
        output_of_warped: (B, C, H, W) the stylization of the warped image.
        mask: (B, 1, H, W) 1 where both are defined (the flow stays inside the image), else 0.

    Returns:
        Scalar: sum(mask * (a - b)^2) / (C * sum(mask)); 0 where the mask is empty.
    """
    if warped_output.shape != output_of_warped.shape:
        raise ValueError(f"temporal_consistency_loss got images of shapes {tuple(warped_output.shape)} and "
                         f"{tuple(output_of_warped.shape)}")
    mask = at_least_float32(mask)
    squared = (at_least_float32(warped_output) - at_least_float32(output_of_warped)) ** 2
    count = mask.expand_as(squared[:, :1]).sum() * squared.shape[1]
    return (squared * mask).sum() / count.clamp_min(1.0)
