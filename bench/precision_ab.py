"""What half precision does to the result: the same run (seed, settings, models) in fp32 and in --precision (bf16 by
default), `python -m bench precision --steps 50`.

Reports each loss term after the last step in both precisions, and how far the stylized images lie apart (largest
and mean absolute difference of the [0, 1] pixels, PSNR of the half-precision image against the fp32 one). Random
weights of the real architectures, as every benchmark here: the figures show numerical drift, not a change of
style a viewer would judge; on a CPU without native bf16 the bf16 run is very slow (use a small --size).
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import torch

from clipstyler.optimize import train_stylenet
from clipstyler.precision import resolve_precision

from . import report
from .optimize import add_arguments as add_optimize_arguments
from .optimize import build_models, load_content, settings_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_optimize_arguments(parser)
    parser.set_defaults(steps=50, precision="bf16")


def psnr(image: torch.Tensor, reference: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of image against reference, both in [0, 1]; inf when equal."""
    mse = float(torch.mean((image - reference) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def stylized(content, clip, vgg, target, settings, device) -> tuple[torch.Tensor, dict[str, float]]:
    net, losses = train_stylenet(content, clip, vgg, target, settings, device)
    with torch.no_grad():
        image = net.eval()(content.to(device)).float().cpu()
    return image, {name: float(value) for name, value in losses.items()}


def run(args: argparse.Namespace) -> dict:
    report.set_threads(args.threads)
    device = torch.device(args.device)
    content = load_content(args.image, args.size)
    clip, vgg, target = build_models(args.clip, device)
    half = resolve_precision(args.precision, device)
    runs = {}
    for precision in ("fp32", half):
        start = report.now(device)
        settings = dataclasses.replace(settings_from(args), precision=precision)
        image, losses = stylized(content, clip, vgg, target, settings, device)
        runs[precision] = {"image": image, "losses": losses, "seconds": report.now(device) - start}
    exact, other = runs["fp32"], runs[half]
    difference = (other["image"] - exact["image"]).abs()
    result = {
        "benchmark": "precision",
        "precision": half,
        "steps": args.steps,
        "size": args.size,
        "crops": args.num_crops,
        **{f"fp32_{name}": float(f"{value:.6g}") for name, value in exact["losses"].items()},
        **{f"{half}_{name}": float(f"{value:.6g}") for name, value in other["losses"].items()},
        **{f"relative_difference_{name}": round(abs(other["losses"][name] - value) / max(abs(value), 1e-12), 5)
           for name, value in exact["losses"].items()},
        "image_max_abs_difference": round(float(difference.max()), 5),
        "image_mean_abs_difference": round(float(difference.mean()), 6),
        "psnr_db": round(psnr(other["image"], exact["image"]), 2),
        "fp32_s": round(exact["seconds"], 2),
        f"{half}_s": round(other["seconds"], 2),
        **report.environment(device),
    }
    report.emit(f"precision: {half} against fp32 after {args.steps} steps", result)
    return result
