"""Rough working-memory estimates of a job, so a host (e.g. ComfyUI) can make room for it before it starts.

They are deliberately simple upper-end figures from measured peaks (fp32, bench/RESULTS.md): optimising at 512² with
64 crops, 16 per CLIP pass, peaks at about 2.8 GB of which about 0.7 GB are CLIP and VGG weights; at 256² with 16
crops about 2.2 GB. Half precision needs less.
"""

from __future__ import annotations

# Optimisation: StyleNet and VGG graphs kept for the backward, per pixel of the images in one step.
TRAINING_BYTES_PER_PIXEL = 3 * 1024
# Optimisation: one 224 px view through CLIP ViT-B/32 with its input gradient.
TRAINING_BYTES_PER_CLIP_VIEW = 64 * 2**20
# Fast apply: a StyleNet forward pass without gradients (about 0.8 GB per 1024² frame).
APPLY_BYTES_PER_PIXEL = 800


def training_bytes(height: int, width: int, images_per_step: int, clip_views_per_pass: int) -> int:
    """Working memory of one optimisation step at the processing size (H, W), beyond the models' weights."""
    pixels = height * width * images_per_step
    return pixels * TRAINING_BYTES_PER_PIXEL + clip_views_per_pass * TRAINING_BYTES_PER_CLIP_VIEW


def apply_bytes(pixels_per_pass: int) -> int:
    """Working memory of one fast-apply pass over pixels_per_pass pixels (all frames of the chunk together)."""
    return pixels_per_pass * APPLY_BYTES_PER_PIXEL
