"""FLOPs of one optimisation step, ours against the reference cost model, and the time they need at best.

Counts with torch.utils.flop_counter.FlopCounterMode (matmuls, convolutions and attention, forward and backward;
elementwise ops are not counted) over one steady-state step: step 2 of a train_stylenet run, and one
`reference_step` of the cost model (bench/reference.py), same settings and architectures. Dividing by the
machine's measured fp32 matmul rate gives a floor on the time per step that no fp32 implementation of the same
computation can beat on this machine; RESULTS.md uses it to say what stands between us and a target.
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from clipstyler.optimize import train_stylenet

from . import reference, report
from .optimize import add_arguments as add_optimize_arguments
from .optimize import build_models, load_content, settings_from, without_clip_speedups


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_optimize_arguments(parser)
    parser.set_defaults(steps=2)


def ours(args: argparse.Namespace, device: torch.device) -> float:
    """GFLOP of step 2 of train_stylenet (step 1 carries the one-off setup)."""
    content = load_content(args.image, args.size)
    with without_clip_speedups(args.no_clip_speedups):
        clip, vgg, target = build_models(args.clip, device)
    counter = FlopCounterMode(display=False)

    def callback(step) -> None:  # count from the end of step 1 to the end of step 2
        if step.step == 1:
            counter.__enter__()
        elif step.step == 2:
            counter.__exit__(None, None, None)

    args.steps = 2
    train_stylenet(content, clip, vgg, target, settings_from(args), device, callback=callback)
    return counter.get_total_flops() / 1e9


def authors(args: argparse.Namespace, device: torch.device) -> float:
    """GFLOP of one step of the reference cost model."""
    step = reference.build_loop(settings_from(args), args.image, args.clip, device)
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / 1e9


def run(args: argparse.Namespace) -> dict:
    report.set_threads(args.threads)
    device = torch.device(args.device)
    our_gflop = ours(args, device)
    their_gflop = authors(args, device)
    environment = report.environment(device)
    rate = environment["cpu_matmul_gflops"] if device.type == "cpu" else None
    result = {
        "benchmark": "flops",
        "gflop_per_step": round(our_gflop, 1),
        "reference_gflop_per_step": round(their_gflop, 1),
        "work_ratio": round(their_gflop / our_gflop, 3),
        # the time the counted work needs at the machine's fp32 matmul rate: a floor, not a prediction
        "floor_s_per_step": round(our_gflop / rate, 2) if rate else None,
        "reference_floor_s_per_step": round(their_gflop / rate, 2) if rate else None,
        "size": args.size,
        "crops": args.num_crops,
        "crop_size": args.crop_size,
        "clip": args.clip,
        "clip_speedups": not args.no_clip_speedups,
        **environment,
    }
    report.emit("FLOPs per step (ours vs the reference cost model)", result)
    return result
