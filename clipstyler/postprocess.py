"""The paper's display look: clamp, contrast 1.5, then a min-max stretch per image (off by default)."""

from __future__ import annotations

import torch
from torchvision.transforms.functional import adjust_contrast


def paper_display(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> the same, as the paper's figures show it."""
    x = adjust_contrast(images.clamp(0, 1), 1.5)
    low = x.amin(dim=(1, 2, 3), keepdim=True)
    high = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x - low) / (high - low).clamp_min(1e-8)
