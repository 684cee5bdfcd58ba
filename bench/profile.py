"""Profile one steady-state step of train_stylenet with torch.profiler (the third step: one warm-up step first).

The profiler is driven from the StepReport callback: step 1 (with the objective's setup) is skipped, step 2 is the
profiler's warm-up, step 3 is recorded. Prints the top ops by self CPU time (and self CUDA time on a GPU).
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile, schedule

from clipstyler.optimize import train_stylenet

from . import report
from .optimize import add_arguments as add_optimize_arguments
from .optimize import build_models, load_content, settings_from, without_clip_speedups


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_optimize_arguments(parser)
    parser.set_defaults(size=256, num_crops=16, steps=3)
    parser.add_argument("--top", type=int, default=25, help="rows of the op table (default 25)")
    parser.add_argument("--trace", default="", help="also write a Chrome trace to this file")
    parser.add_argument("--by-shape", action="store_true", help="group the table by input shapes too")


def run(args: argparse.Namespace) -> dict:
    """Profile step 3 of a train_stylenet run and print the op table."""
    report.set_threads(args.threads)
    device = torch.device(args.device)
    args.steps = max(args.steps, 3)
    content = load_content(args.image, args.size)
    with without_clip_speedups(args.no_clip_speedups):
        clip, vgg, target = build_models(args.clip, device)
    other_load = report.OtherLoad()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, schedule=schedule(wait=1, warmup=1, active=1), record_shapes=args.by_shape,
                 profile_memory=False) as profiler:
        def callback(step):
            report.synchronize(device)
            profiler.step()

        train_stylenet(content, clip, vgg, target, settings_from(args), device, callback=callback)
    sort_key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    averages = profiler.key_averages(group_by_input_shape=args.by_shape)
    print(averages.table(sort_by=sort_key, row_limit=args.top, max_name_column_width=50, max_shapes_column_width=70))
    if args.trace:
        profiler.export_chrome_trace(args.trace)
    events = sorted(profiler.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total_us = sum(e.self_cpu_time_total for e in events)
    top = [{"op": e.key, "self_cpu_ms": round(e.self_cpu_time_total / 1e3, 1), "calls": e.count,
            "share": round(e.self_cpu_time_total / total_us, 4)} for e in events[:args.top]]
    result = {"benchmark": "profile", "self_cpu_total_ms": round(total_us / 1e3, 1), "top": top, "size": args.size,
              "crops": args.num_crops, "precision": args.precision, **report.environment(device, other_load)}
    print(__import__("json").dumps(result), flush=True)
    return result
