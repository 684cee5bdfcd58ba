"""The losses compute in at least float32: half-precision embeddings and features (autocast) are promoted, while
float64 inputs stay float64, so gradient checks in double precision see the exact formula."""

from __future__ import annotations

import torch


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """tensor in float32, or float64 if it already is: (any shape) -> (same shape)."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))
