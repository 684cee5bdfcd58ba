"""What half precision does to the result: the same run (seed, settings, models) in fp32 and in --precision (bf16 by
default), `python -m bench precision --steps 50`.

Reports each loss term after the last step in both precisions, and how far the stylized images lie apart (largest
and mean absolute difference of the [0, 1] pixels, PSNR of the half-precision image against the fp32 one). Random
weights of the real architectures, as every benchmark here: the figures show numerical drift, not a change of
style a viewer would judge; on a CPU without native bf16 the bf16 run is very slow (use a small --size).

The yardstick is a third run, in fp32 again, with the crops sent through CLIP in other chunks (`crop_batch`): the
same computation up to float rounding. Adam's steps grow any rounding difference, so that run drifts from the first
one too (the `rounding_` fields); bf16 matters where it drifts further than that.
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import torch

from clipstyler.optimize import train_stylenet
from clipstyler.precision import resolve_precision
from clipstyler.settings import StyleSettings

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


def other_chunking(settings: StyleSettings) -> int:
    """A crop_batch that splits the crops into other CLIP passes than settings.crop_batch does (the same loss up to
    float rounding): one crop per pass, or two where the setting already is one."""
    return 2 if settings.crop_batch == 1 else 1


def drift(run: dict, reference: dict) -> dict[str, float]:
    """How far a run ended from the reference run: each loss term's relative difference, and the images' largest and
    mean absolute difference and PSNR."""
    difference = (run["image"] - reference["image"]).abs()
    return {
        **{f"relative_difference_{name}": round(abs(run["losses"][name] - value) / max(abs(value), 1e-12), 5)
           for name, value in reference["losses"].items()},
        "image_max_abs_difference": round(float(difference.max()), 5),
        "image_mean_abs_difference": round(float(difference.mean()), 6),
        "psnr_db": round(psnr(run["image"], reference["image"]), 2),
    }


def stylized(content, clip, vgg, target, settings, device) -> tuple[torch.Tensor, dict[str, float]]:
    net, losses = train_stylenet(content, clip, vgg, target, settings, device)
    with torch.no_grad():
        image = net.eval()(content.to(device)).float().cpu()
    return image, {name: float(value) for name, value in losses.items()}


def run(args: argparse.Namespace) -> dict:
    report.set_threads(args.threads)
    device = torch.device(args.device)
    half = resolve_precision(args.precision, device)
    if half == "fp32":
        raise SystemExit(f"precision: --precision {args.precision} is fp32 on {device}, nothing to compare; use "
                         "--precision bf16 or fp16")
    content = load_content(args.image, args.size)
    clip, vgg, target = build_models(args.clip, device)
    runs = {}
    base = settings_from(args)
    variants = {"fp32": dataclasses.replace(base, precision="fp32"),
                half: dataclasses.replace(base, precision=half),
                "rounding": dataclasses.replace(base, precision="fp32", crop_batch=other_chunking(base))}
    for name, settings in variants.items():
        start = report.now(device)
        image, losses = stylized(content, clip, vgg, target, settings, device)
        runs[name] = {"image": image, "losses": losses, "seconds": report.now(device) - start}
    exact, other = runs["fp32"], runs[half]
    result = {
        "benchmark": "precision",
        "precision": half,
        "steps": args.steps,
        "size": args.size,
        "crops": args.num_crops,
        **{f"fp32_{name}": float(f"{value:.6g}") for name, value in exact["losses"].items()},
        **{f"{half}_{name}": float(f"{value:.6g}") for name, value in other["losses"].items()},
        **drift(other, exact),
        "rounding_crop_batch": variants["rounding"].crop_batch,
        **{f"rounding_{name}": value for name, value in drift(runs["rounding"], exact).items()},
        "fp32_s": round(exact["seconds"], 2),
        f"{half}_s": round(other["seconds"], 2),
        **report.environment(device),
    }
    report.emit(f"precision: {half} against fp32 after {args.steps} steps", result)
    return result
