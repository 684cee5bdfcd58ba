"""Benchmark of the fast mode's training (clipstyler.fast_train.train_fast_stylenet): seconds per iteration.

Randomly initialised weights of the real architectures (open_clip ViT-B-32-quickgelu, AdaIN's VGG encoder and
decoder): the weights do not change the cost, so nothing has to be downloaded. The training set is `frames` noisy
copies of the bundled image at long side --size; each iteration cuts --batch crops of --crop-size and scores
--views perspective views of them with CLIP, as train_fast.py does (the paper: 4 crops of 224 px, 16 views).
"""

from __future__ import annotations

import argparse
import time

import torch

from clipstyler.adain import FastStyleNet
from clipstyler.clip.loading import random_clip
from clipstyler.fast_settings import FastSettings
from clipstyler.fast_train import train_fast_stylenet
from clipstyler.precision import resolve_precision
from clipstyler.text import encode_style_target

from . import report
from .apply import make_frames
from .optimize import STYLE_TEXT, StepClock

DEFAULTS = FastSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=5, help="training iterations to time (>= 2 for s_per_step)")
    parser.add_argument("--batch", type=int, default=DEFAULTS.batch_size, help="crops per iteration")
    parser.add_argument("--crop-size", type=int, default=DEFAULTS.crop_size, help="side of the training crops")
    parser.add_argument("--views", type=int, default=DEFAULTS.num_views, help="perspective views per crop")
    parser.add_argument("--view-batch", type=int, default=DEFAULTS.view_batch,
                        help="views per CLIP pass (0: all at once)")
    parser.add_argument("--size", type=int, default=512, help="long side of the training frames in px")
    parser.add_argument("--frames", type=int, default=8, help="training frames")
    parser.add_argument("--clip", default=report.DEFAULT_CLIP, help="open_clip architecture, random weights")
    report.add_common_arguments(parser, "training image", precision="fp32")


def settings_from(args: argparse.Namespace) -> FastSettings:
    return FastSettings(steps=args.steps, batch_size=args.batch, crop_size=args.crop_size, num_views=args.views,
                        view_batch=args.view_batch, precision=args.precision)


def run(args: argparse.Namespace) -> dict:
    """Time one train_fast_stylenet run; returns the result dict (also printed)."""
    report.set_threads(args.threads)
    device = torch.device(args.device)
    settings = settings_from(args)
    frames = make_frames(args.image, args.size, args.frames)
    report.reset_peak_memory(device)
    start = report.now(device)
    clip = random_clip(args.clip).to(device)
    target = encode_style_target(clip, STYLE_TEXT)
    net = FastStyleNet()
    clock = StepClock(device)
    loop_start = report.now(device)
    other_load = report.OtherLoad()
    train_fast_stylenet(frames, clip, target, net, settings, device, callback=clock)
    result = {
        "benchmark": "fast",
        "setup_s": round(loop_start - start, 4),
        **report.step_figures(loop_start, clock.stamps),
        "peak_mem_mb": round(report.peak_memory_mb(device), 1),
        "frame_hw": list(frames.shape[-2:]),
        "frames": args.frames,
        "batch": settings.batch_size,
        "crop_size": settings.crop_size,
        "views": settings.num_views,
        "view_batch": settings.view_batch,
        "steps": settings.steps,
        "clip": args.clip,
        "precision": resolve_precision(settings.precision, device),
        "total_s": round(time.perf_counter() - start, 4),
        **report.environment(device, other_load),
    }
    report.emit("fast (clipstyler.fast_train.train_fast_stylenet)", result)
    return result
