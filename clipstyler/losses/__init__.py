"""CLIPstyler's four loss terms, each exactly as docs/METHOD.md ("The four losses") writes it."""

from .content import content_loss
from .directional import directional_loss, patch_directional_loss, per_patch_directional_loss
from .total_variation import batch_total_variation_loss, total_variation_loss

__all__ = [
    "batch_total_variation_loss",
    "content_loss",
    "directional_loss",
    "patch_directional_loss",
    "per_patch_directional_loss",
    "total_variation_loss",
]
