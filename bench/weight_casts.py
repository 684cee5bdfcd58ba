"""What autocast's casts of the frozen CLIP and VGG layer weights cost a bf16 or fp16 step.

Under autocast, each pass through a frozen model casts its layer weights to the half precision again
(clipstyler/frozen_weights.py). A per-image step makes 1 + ceil(crops / crop_batch) CLIP passes (the global view,
then one per crop chunk) and one VGG pass; a fast-mode iteration makes 2 + ceil(views / view_batch) CLIP passes (the
content's embedding, the output's, then one per chunk of views). Since clipstyler.frozen_weights, these casts are
made once per run instead.

This times those casts on the real architectures (random weights), median of --reps, and reports the seconds they
took per step and per iteration. The casts read float32 and write half precision: their time depends on memory
bandwidth, not on whether the CPU computes bf16 natively, so it can be measured on any CPU.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from clipstyler.clip.loading import random_clip
from clipstyler.fast_settings import FastSettings
from clipstyler.frozen_weights import autocast_cast_weights
from clipstyler.precision import autocast_dtype
from clipstyler.settings import StyleSettings
from clipstyler.vgg import VGGContent

from . import report

STYLE, FAST = StyleSettings(), FastSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--crops", type=int, default=STYLE.num_crops, help="per-image mode: crops per step")
    parser.add_argument("--crop-batch", type=int, default=STYLE.crop_batch, help="crops per CLIP pass (0 = all)")
    parser.add_argument("--views", type=int, default=FAST.num_views, help="fast mode: views per crop")
    parser.add_argument("--view-batch", type=int, default=FAST.view_batch, help="views per CLIP pass (0 = all)")
    parser.add_argument("--reps", type=int, default=7, help="timed casts of each model")
    parser.add_argument("--clip", default=report.DEFAULT_CLIP, help="open_clip architecture, random weights")
    report.add_common_arguments(parser, "unused", precision="bf16")


def chunks(items: int, per_chunk: int) -> int:
    """Passes for items at per_chunk a pass (0, or at least items: one pass)."""
    return 1 if per_chunk == 0 or per_chunk >= items else math.ceil(items / per_chunk)


def clip_passes_per_step(crops: int, crop_batch: int) -> int:
    """CLIP passes of a per-image step (StyleObjective.backward): all in one, or the global view then each chunk."""
    return 1 if chunks(crops, crop_batch) == 1 else 1 + chunks(crops, crop_batch)


def clip_passes_per_iteration(views: int, view_batch: int) -> int:
    """CLIP passes of a fast-mode iteration (FastObjective): the content crops, the output crops, then the views
    a chunk at a time (all in one pass when they fit)."""
    return 2 + chunks(views, view_batch)


def cast_seconds(weights: list[torch.Tensor], dtype: torch.dtype, device: torch.device, reps: int) -> float:
    """Median seconds to cast all of weights to dtype once, as autocast does in a pass."""
    times = []
    for _ in range(reps + 1):
        start = report.now(device)
        casts = [weight.to(dtype) for weight in weights]
        times.append(report.now(device) - start)
        del casts
    return statistics.median(times[1:])  # the first pays the allocations


def run(args: argparse.Namespace) -> dict:
    report.set_threads(args.threads)
    device = torch.device(args.device)
    dtype = autocast_dtype(args.precision)
    if dtype == torch.float32:
        raise SystemExit("weight-casts: fp32 makes no casts; use --precision bf16 or fp16")
    clip = random_clip(args.clip).to(device)
    clip_weights = [p.data for p in autocast_cast_weights([clip.image_tower])]
    vgg_weights = [p.data for p in autocast_cast_weights([VGGContent().to(device)])]
    other_load = report.OtherLoad()
    start = time.perf_counter()
    clip_s = cast_seconds(clip_weights, dtype, device, args.reps)
    vgg_s = cast_seconds(vgg_weights, dtype, device, args.reps)
    step_passes = clip_passes_per_step(args.crops, args.crop_batch)
    iteration_passes = clip_passes_per_iteration(args.views, args.view_batch)
    result = {
        "benchmark": "weight-casts",
        "precision": args.precision,
        "clip_weights_m": round(sum(w.numel() for w in clip_weights) / 1e6, 2),
        "vgg_weights_m": round(sum(w.numel() for w in vgg_weights) / 1e6, 2),
        "clip_cast_s": round(clip_s, 4),
        "vgg_cast_s": round(vgg_s, 4),
        "clip_passes_per_step": step_passes,
        "cast_s_per_step": round(step_passes * clip_s + vgg_s, 4),
        "clip_passes_per_fast_iteration": iteration_passes,
        "cast_s_per_fast_iteration": round(iteration_passes * clip_s, 4),
        "crops": args.crops,
        "crop_batch": args.crop_batch,
        "views": args.views,
        "view_batch": args.view_batch,
        "reps": args.reps,
        "total_s": round(time.perf_counter() - start, 2),
        **report.environment(device, other_load),
    }
    report.emit("weight-casts (autocast's per-pass casts of the frozen weights, now made once per run)", result)
    return result
