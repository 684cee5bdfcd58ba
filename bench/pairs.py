"""Ours against the reference cost model in alternating pairs: `python -m bench pairs --size 512 --crops 64 --pairs 3`.

Each pair runs `python -m bench optimize` (train_stylenet, the product) and then `python -m bench reference` (the cost
model of the authors' loop, bench/reference.py) with the same settings, each in a fresh process: each side's peak
memory is its own, and neither inherits the other's allocator or thread-pool state. The settings flags are the
command line's (built from StyleSettings); the reference gets those the authors' loop has (reference.MODELLED) and
keeps its own fp32 (fp16 CLIP on CUDA) and single CLIP pass.

The machine's speed can drift by tens of percent between minutes, so the figure to quote is the ratio within each
pair (two runs a minute or two apart) and its median over the pairs, next to each side's median s/step. Before each
run this can wait for a quiet machine (--quiet-below, --max-wait); every run records how much CPU other processes
used just before it (other_load_before, measured over --probe-s seconds while this process sleeps) and during its
timed steps (other_load_cores), in cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys

import torch

from . import reference, report

SIDES = ("optimize", "reference")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    report.add_settings_arguments(parser)
    parser.add_argument("--steps", type=int, default=3, help="optimisation steps to time in each run (default 3; "
                        "s/step is the mean of all but the first)")
    parser.add_argument("--pairs", type=int, default=3, help="pairs of runs, ours then the reference (default 3)")
    report.add_common_arguments(parser, "content image")
    parser.add_argument("--clip", default=report.DEFAULT_CLIP, help="open_clip architecture for both sides, random "
                        f"weights (default {report.DEFAULT_CLIP}: OpenAI's ViT-B/32)")
    parser.add_argument("--quiet-below", type=float, default=0.25, help="before each run, wait until other "
                        "processes use fewer cores than this (default 0.25)")
    parser.add_argument("--max-wait", type=float, default=0.0, help="longest wait for that before each run, in "
                        "seconds (default 0: measure the load, do not wait)")
    parser.add_argument("--probe-s", type=float, default=5.0, help="seconds over which the load before a run is "
                        "measured (default 5)")


def command(side: str, args: argparse.Namespace, settings) -> list[str]:
    """The `python -m bench optimize|reference ...` command line of one run."""
    names = None if side == "optimize" else reference.MODELLED
    image = os.path.relpath(args.image, report.REPO_ROOT) if args.image.startswith(report.REPO_ROOT) else args.image
    argv = [sys.executable, "-m", "bench", side, "--steps", str(args.steps), "--device", args.device,
            "--threads", str(args.threads), "--image", image, "--clip", args.clip]
    return argv + report.settings_argv(settings, names)


def run_side(argv: list[str]) -> dict:
    """Run one benchmark in a subprocess (its progress lines pass through on stderr); its JSON line as a dict."""
    finished = subprocess.run(argv, cwd=report.REPO_ROOT, stdout=subprocess.PIPE, text=True)
    lines = finished.stdout.strip().splitlines()
    if finished.returncode != 0 or not lines:
        raise SystemExit(f"python -m bench pairs: {shlex.join(argv[1:])} failed (exit {finished.returncode})")
    return json.loads(lines[-1])


RUN_FIELDS = ("s_per_step", "first_step_s", "step_s", "setup_s", "peak_mem_mb", "other_load_cores", "load_avg_1m",
              "cpu_matmul_gflops", "threads", "date", "precision")  # precision: what auto resolved to


def print_pairs(pairs: list[dict]) -> None:
    """A markdown table, a row per pair."""
    print("| pair | ours s/step | reference s/step | ratio | ours peak MB | reference peak MB "
          "| other load before / during, ours | same, reference |")
    print("|---:|---:|---:|---:|---:|---:|---|---|")
    for pair in pairs:
        ours, ref = pair["optimize"], pair["reference"]
        print(f"| {pair['pair']} | {ours['s_per_step']:.2f} | {ref['s_per_step']:.2f} | {pair['ratio']:.2f}x "
              f"| {ours['peak_mem_mb']:.0f} | {ref['peak_mem_mb']:.0f} "
              f"| {ours['other_load_before']} / {ours['other_load_cores']} "
              f"| {ref['other_load_before']} / {ref['other_load_cores']} |")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> dict:
    settings = report.settings_from(args)
    commands = {side: command(side, args, settings) for side in SIDES}
    shown = {side: shlex.join(["python", *commands[side][1:]]) for side in SIDES}
    for side in SIDES:
        print(f"{side}: {shown[side]}", file=sys.stderr, flush=True)
    pairs = []
    for number in range(1, args.pairs + 1):
        pair = {"pair": number}
        for side in SIDES:
            quiet = report.wait_for_quiet(args.quiet_below, args.max_wait, args.probe_s)
            print(f"pair {number}/{args.pairs}, {side} (other load before: {quiet['other_load_before']} cores)",
                  file=sys.stderr, flush=True)
            result = run_side(commands[side])
            pair[side] = {**quiet, **{name: result.get(name) for name in RUN_FIELDS}}
        pair["ratio"] = round(pair["reference"]["s_per_step"] / pair["optimize"]["s_per_step"], 3)
        pairs.append(pair)
    print_pairs(pairs)
    ours = [pair["optimize"]["s_per_step"] for pair in pairs]
    theirs = [pair["reference"]["s_per_step"] for pair in pairs]
    ratios = [pair["ratio"] for pair in pairs]
    loads = [pair[side][key] for pair in pairs for side in SIDES for key in ("other_load_before", "other_load_cores")
             if pair[side][key] is not None]
    device = torch.device(args.device)
    result = {
        "benchmark": "pairs",
        "pairs_run": len(pairs),
        "ours_median_s_per_step": round(statistics.median(ours), 3),
        "reference_median_s_per_step": round(statistics.median(theirs), 3),
        "median_ratio": round(statistics.median(ratios), 3),
        "ratio_of_medians": round(statistics.median(theirs) / statistics.median(ours), 3),
        "ratio_range": [min(ratios), max(ratios)],
        "ours_s_per_step": ours,
        "reference_s_per_step": theirs,
        "ours_peak_mem_mb": max(pair["optimize"]["peak_mem_mb"] for pair in pairs),
        "reference_peak_mem_mb": max(pair["reference"]["peak_mem_mb"] for pair in pairs),
        "max_other_load_cores": max(loads) if loads else None,
        "size": settings.size,
        "crops": settings.num_crops,
        "crop_size": settings.crop_size,
        "crop_batch": settings.crop_batch,
        "precision": settings.precision,
        "ours_precision": sorted({str(pair["optimize"]["precision"]) for pair in pairs}),
        "reference_precision": "fp16 CLIP weights, fp32 VGG and StyleNet" if device.type == "cuda" else "fp32",
        "steps": args.steps,
        "clip": args.clip,
        "image": args.image.rsplit("/", 1)[-1],
        "settings": settings.to_dict(),
        "commands": shown,
        "pairs": pairs,
        **report.environment(device),
        "threads": pairs[0]["optimize"]["threads"],  # the runs' torch threads
    }
    del result["other_load_cores"]  # measured per run, in `pairs`
    report.emit("alternating pairs: optimize (ours) vs reference (cost model of the authors' loop)", result,
                hide=("settings", "commands", "pairs"))
    return result
