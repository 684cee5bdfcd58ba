"""Every GPU figure in one command, for any CUDA machine: `python -m bench gpu` (a few minutes on a recent GPU).

Each figure runs in a fresh process (its own peak memory), with random weights of the real architectures:
- the paper's mode end to end: 200 steps at 512 px with 64 crops, precision auto and fp32 (setup included);
- fast apply frames/s at 512 px and 2048 px, for the per-image U-Net and the fast mode's AdaIN net;
- the fast mode's training, seconds per iteration;
- what bf16 does to the result: 50 steps in fp32 and in bf16 from the same seed, losses and image difference,
  beside fp32 with other float rounding (the drift rounding alone gives);
- the test suite on that machine (tests/test_cuda.py runs only where CUDA is; the rest as on a CPU).
It prints a Markdown table ready for bench/RESULTS.md and writes every run's JSON to --out.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys

import torch

from . import report
from .pairs import run_side

# (label, benchmark argv after `python -m bench`, the figure to show)
OPTIMIZE = ["optimize", "--size", "512", "--crops", "64", "--steps", "200"]
FIGURES = [
    ("512², 64 crops, 200 steps, auto", [*OPTIMIZE, "--precision", "auto"], "total_s"),
    ("512², 64 crops, 200 steps, fp32", [*OPTIMIZE, "--precision", "fp32"], "total_s"),
    ("apply 512², U-Net, auto", ["apply", "--size", "512", "--frames", "512", "--repeats", "3"], "frames_per_s"),
    ("apply 2048², U-Net, auto", ["apply", "--size", "2048", "--frames", "16", "--repeats", "3"], "frames_per_s"),
    ("apply 512², AdaIN, auto", ["apply", "--size", "512", "--frames", "512", "--repeats", "3", "--kind", "adain"],
     "frames_per_s"),
    ("apply 2048², AdaIN, auto", ["apply", "--size", "2048", "--frames", "16", "--repeats", "3", "--kind", "adain"],
     "frames_per_s"),
    ("fast training, 4 x 224² crops, 16 views, auto", ["fast", "--steps", "20", "--precision", "auto"],
     "s_per_step"),
    ("bf16 against fp32 after 50 steps at 512², PSNR", ["precision", "--size", "512", "--crops", "64", "--steps",
                                                        "50", "--precision", "bf16"], "psnr_db"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cuda", help="the CUDA device to measure")
    parser.add_argument("--out", default=os.path.join(report.REPO_ROOT, "bench", "gpu-results"),
                        help="folder for the JSON of every run and the test log")
    parser.add_argument("--no-tests", action="store_true", help="skip the test suite")
    parser.add_argument("--quick", action="store_true",
                        help="20 steps instead of 200 and fewer frames: checks the command in a minute")


# --quick: a flag's value -> a smaller one
QUICK = {"--steps": {"200": "20", "50": "10"}, "--frames": {"512": "32"}}


def figure_commands(device: str, quick: bool) -> list[tuple[str, list[str], str]]:
    """The benchmark command lines, with the device (and, when quick, fewer steps and frames)."""
    commands = []
    for label, argv, key in FIGURES:
        argv = [*argv, "--device", device]
        if quick:
            argv = argv[:1] + [QUICK.get(flag, {}).get(value, value) for flag, value in zip(argv, argv[1:])]
        commands.append((label, argv, key))
    return commands


def markdown(rows: list[tuple[str, dict, str]], device_name: str) -> str:
    lines = [f"GPU: {device_name}, torch {torch.__version__}, {datetime.date.today()}", "",
             "| figure | value | peak memory |", "| --- | ---: | ---: |"]
    for label, result, key in rows:
        if "failed" in result:  # one figure failing (e.g. out of memory) leaves the others to record
            lines.append(f"| {label} | failed: {result['failed']} | - |")
            continue
        unit = {"total_s": "s", "frames_per_s": "frames/s", "s_per_step": "s/iteration", "psnr_db": "dB"}[key]
        peak = f"{result['peak_mem_mb'] / 1024:.2f} GB" if "peak_mem_mb" in result else "-"
        value = f"{result[key]} {unit}"
        if key == "psnr_db" and "rounding_psnr_db" in result:  # the yardstick: how far float rounding alone drifts
            value += f" (fp32 with other rounding: {result['rounding_psnr_db']} dB)"
        lines.append(f"| {label} | {value} | {peak} |")
    return "\n".join(lines)


def run_tests(out: str) -> int:
    """The whole suite (tests/test_cuda.py included: it runs where CUDA is); the log goes to out/tests.log.
    Returns pytest's exit code."""
    with open(os.path.join(out, "tests.log"), "w") as log:
        finished = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs"], cwd=report.REPO_ROOT,
                                  stdout=log, stderr=subprocess.STDOUT)
    return finished.returncode


def run(args: argparse.Namespace) -> dict:
    if not torch.cuda.is_available():
        raise SystemExit("python -m bench gpu: no CUDA GPU here (torch.cuda.is_available() is False)")
    os.makedirs(args.out, exist_ok=True)
    device_name = torch.cuda.get_device_name(torch.device(args.device))
    rows = []
    for label, argv, key in figure_commands(args.device, args.quick):
        print(f"-- {label}: python -m bench {' '.join(argv)}", file=sys.stderr, flush=True)
        try:
            result = run_side([sys.executable, "-m", "bench", *argv])
        except SystemExit as failure:  # run_side's message: the command and its exit code
            result = {"failed": str(failure)}
        rows.append((label, result, key))
        with open(os.path.join(args.out, f"{len(rows):02d}-{argv[0]}.json"), "w") as file:
            json.dump({"label": label, "argv": argv, **result}, file, indent=1)
    table = markdown(rows, device_name)
    tests = None if args.no_tests else run_tests(args.out)
    if tests is not None:
        table += f"\n\nTest suite on {device_name}: pytest exit code {tests} (log: {args.out}/tests.log)"
    with open(os.path.join(args.out, "RESULTS-gpu.md"), "w") as file:
        file.write(table + "\n")
    print(table, flush=True)
    return {"rows": [(label, result.get(key, "failed")) for label, result, key in rows], "tests": tests}
