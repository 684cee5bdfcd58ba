"""What the temporal term adds to a fast-mode training step, measured directly.

Comparing whole runs without and with the term cannot resolve a few per cent on a small shared machine (short runs
here vary by 10-15 % from one to the next). The term's extra work is exactly: its draw (flow and noise), the warps,
and the net's forward and backward pass on the warped crops; the backward through the step's own output is shared
with the other terms in one pass (clipstyler.temporal.backward_with_temporal). This times that work and a whole
step (term off) in alternation, --reps times each, and reports the medians and 1 + extra / step: the step-time
ratio with the term, for temporal_crops crops and for all of the batch's.

Random weights of the real architectures (AdaIN's encoder and decoder, CLIP ViT-B-32-quickgelu), as every
benchmark here. Defaults: `bench temporal`'s fast-mode size (2 crops of 96 px, 4 views); the paper's is
`--crop-size 224 --batch 4 --views 16`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from clipstyler.adain import FastStyleNet
from clipstyler.clip.loading import random_clip
from clipstyler.fast_settings import FastSettings
from clipstyler.fast_train import train_fast_stylenet
from clipstyler.temporal import TemporalRegulariser
from clipstyler.text import encode_style_target

from . import report
from .optimize import STYLE_TEXT

DEFAULTS = FastSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--crop-size", type=int, default=96, help="training crop side, px")
    parser.add_argument("--batch", type=int, default=2, help="crops per iteration")
    parser.add_argument("--views", type=int, default=4, help="perspective views per crop")
    parser.add_argument("--temporal-crops", type=int, default=DEFAULTS.temporal_crops,
                        help="crops the term warps and stylizes again (FastSettings.temporal_crops)")
    parser.add_argument("--steps", type=int, default=4, help="steps of each timed run (the first is left out)")
    parser.add_argument("--reps", type=int, default=3, help="alternating repetitions of each measurement")
    parser.add_argument("--clip", default=report.DEFAULT_CLIP, help="open_clip architecture, random weights")
    report.add_common_arguments(parser, "unused (random crops)")


def extra_seconds(net: FastStyleNet, regulariser: TemporalRegulariser, crops: int, crop_size: int,
                  device: torch.device, repeats: int = 5) -> float:
    """Median seconds of the term's own work on `crops` crops: draw, warps, the net's forward and backward."""
    times = []
    for _ in range(repeats + 1):
        images = torch.rand(crops, 3, crop_size, crop_size, device=device)
        with torch.no_grad():
            output = net(images)
        start = report.now(device)
        regulariser(net, images, output).backward()
        times.append(report.now(device) - start)
    return statistics.median(times[1:])  # the first pays one-off costs


def step_seconds(net, clip, target, settings: FastSettings, device: torch.device) -> float:
    """Median seconds per step of a run without the term (its first step left out)."""
    frames = torch.rand(6, 3, settings.crop_size + 8, settings.crop_size + 8)
    stamps = []
    train_fast_stylenet(frames, clip, target, net, settings, device, lambda _: stamps.append(report.now(device)))
    return statistics.median(b - a for a, b in zip(stamps[:-1], stamps[1:]))


def run(args: argparse.Namespace) -> dict:
    report.set_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = FastStyleNet().to(device).train()
    clip = random_clip(args.clip).to(device)
    target = encode_style_target(clip, STYLE_TEXT)
    settings = FastSettings(steps=args.steps, batch_size=args.batch, crop_size=args.crop_size, num_views=args.views)
    regulariser = TemporalRegulariser(DEFAULTS.temporal_motion, DEFAULTS.temporal_noise, 0)
    used = min(args.temporal_crops or args.batch, args.batch)
    other_load = report.OtherLoad()
    start = time.perf_counter()
    steps, extra, extra_all = [], [], []
    for _ in range(args.reps):
        steps.append(step_seconds(net, clip, target, settings, device))
        extra.append(extra_seconds(net, regulariser, used, args.crop_size, device))
        extra_all.append(extra_seconds(net, regulariser, args.batch, args.crop_size, device))
    step, one, every = (statistics.median(values) for values in (steps, extra, extra_all))
    result = {
        "benchmark": "temporal-cost",
        "step_s": round(step, 4),
        "extra_s": round(one, 4),
        "step_time_ratio": round(1 + one / step, 4),
        "extra_s_all_crops": round(every, 4),
        "step_time_ratio_all_crops": round(1 + every / step, 4),
        "temporal_crops": used,
        "batch": args.batch,
        "crop_size": args.crop_size,
        "views": args.views,
        "reps": args.reps,
        "steps_s": [round(v, 4) for v in steps],
        "extra_s_runs": [round(v, 4) for v in extra],
        "total_s": round(time.perf_counter() - start, 2),
        **report.environment(device, other_load),
    }
    report.emit("temporal-cost (the temporal term's extra pass in a fast-mode step)", result)
    return result
