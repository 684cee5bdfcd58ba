"""Flicker of the video modes: the warping error (Lai et al., ECCV 2018) on a clip with known motion, without and
with the temporal term (clipstyler/temporal.py), and what the term costs in style, content and time.

The clip (clipstyler.warping_error.synthetic_clip): the bundled image under a camera pan of --pan px per frame with a
slight zoom (--zoom per frame), --frames frames of --size px; its flow is exact and the border is the only
occlusion. It is stylized five ways:

- per frame: each of the first --per-frame frames optimised on its own (the paper's per-image mode);
- shared, without and with the term: one U-Net StyleNet trained on all frames (shared mode), then applied;
- fast, without and with the term: the fast mode's AdaIN decoder fine-tuned on crops of the frames, then applied.

For each: the warping error (over all frames, and over the first --per-frame frames to compare with per-frame
optimisation), the CLIP directional and patch losses and the VGG content loss of the stylized frames (all scored
alike: StyleObjective with the run's settings and one fixed draw of patches per frame), and the training's seconds
per step. The targets (issue 11): with the term, warping error <= 0.7x without and <= 0.5x per frame; directional,
patch and content losses within 5 % of the run without; step time at most 10 % more.

Random weights of the real architectures (CLIP ViT-B-32-quickgelu, VGG-19, AdaIN's encoder and decoder), as every
benchmark here: nothing is downloaded, and the "style" is whatever a random CLIP pulls towards, so the figures show
the term's effect on stability and on the losses, not a look. PyTorch's default initialisation shrinks the signal
about 3x per layer, so a random VGG-19 gives near-zero content features and a random AdaIN decoder a flat output:
both are calibrated once on the first frame (`unit_gain`, LSUV-style: each convolution rescaled so its output has
std 1; the decoder's last to mean 0.5, std 0.25), which keeps them random but makes their losses and frames
meaningful. The fast mode starts from AdaIN's released decoder, which reconstructs images; its stand-in here is the
calibrated random decoder trained --fast-pretrain steps to reconstruct the frames (`random_start`).

The defaults run in a few minutes on a 2-core CPU (96 px, 6 frames, 20 steps, the shared net at twice the paper's
learning rate so that so few steps move it); the issue's setting is `--size 512 --frames 24 --steps 200 --lr 5e-4
--crops 64 --crop-size 128 --fast-steps 200 --fast-crop-size 224` (a GPU). The optimisation settings are the command
line's flags (--lambda-temporal, --temporal-motion, --temporal-noise, --crops, ...); --steps is every net's
training steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch
from torch import nn

from clipstyler.adain import FastStyleNet
from clipstyler.apply import apply_stylenet
from clipstyler.augment import sample_patch_params
from clipstyler.clip.loading import random_clip
from clipstyler.fast_settings import FastSettings
from clipstyler.fast_train import train_fast_stylenet
from clipstyler.image_io import load_image
from clipstyler.objective import StyleObjective
from clipstyler.optimize import train_stylenet
from clipstyler.precision import resolve_precision
from clipstyler.settings import StyleSettings
from clipstyler.text import encode_style_target
from clipstyler.vgg import VGGContent
from clipstyler.warping_error import synthetic_clip, warping_error

from . import report
from .optimize import STYLE_TEXT, StepClock

# This benchmark's defaults for the optimisation settings: small enough for a 2-core CPU in a few minutes.
SETTINGS_DEFAULTS = {"size": 96, "num_crops": 8, "crop_size": 48, "lr": 1e-3, "lambda_temporal": 10000.0}
FAST_DEFAULTS = FastSettings()
TARGETS = {"error_vs_without": 0.7, "error_vs_per_frame": 0.5, "loss_change": 0.05, "step_time_ratio": 1.10}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    report.add_settings_arguments(parser, **SETTINGS_DEFAULTS)
    parser.add_argument("--steps", type=int, default=20, help="training steps of every shared and per-frame net")
    parser.add_argument("--frames", type=int, default=6, help="frames of the clip")
    parser.add_argument("--per-frame", type=int, default=3, help="frames optimised one by one (0: skip)")
    parser.add_argument("--pan", type=float, default=2.0, help="camera pan, px per frame")
    parser.add_argument("--zoom", type=float, default=0.005, help="the view's shrink per frame (zoom in)")
    parser.add_argument("--fast-steps", type=int, default=20, help="fast-mode training iterations (0: skip)")
    parser.add_argument("--fast-batch", type=int, default=2, help="fast mode: crops per iteration")
    parser.add_argument("--fast-crop-size", type=int, default=0,
                        help="fast mode: training crop side (default 0: the frame size, at most 224)")
    parser.add_argument("--fast-views", type=int, default=4, help="fast mode: perspective views per crop")
    parser.add_argument("--fast-lr", type=float, default=FAST_DEFAULTS.lr, help="fast mode: learning rate")
    parser.add_argument("--fast-pretrain", type=int, default=100,
                        help="fast mode: Adam steps that first train the random decoder to reconstruct the frames, "
                        "standing in for AdaIN's released decoder (the fast mode's start)")
    parser.add_argument("--fast-lambda-temporal", type=float, default=600.0,
                        help="fast mode: weight of the temporal term in the run with it")
    parser.add_argument("--fast-temporal-crops", type=int, default=FAST_DEFAULTS.temporal_crops,
                        help="fast mode: crops of each iteration the temporal term uses (0: all)")
    parser.add_argument("--shared", action=argparse.BooleanOptionalAction, default=True,
                        help="train the shared nets (--no-shared: only per-frame and fast mode)")
    parser.add_argument("--timing-pairs", type=int, default=3,
                        help="step-time ratio from this many alternating short runs without and with the term "
                        "(medians; 0: from the one long run of each)")
    parser.add_argument("--timing-steps", type=int, default=6, help="steps of each timing run")
    parser.add_argument("--clip", default=report.DEFAULT_CLIP, help="open_clip architecture, random weights")
    report.add_common_arguments(parser, "image the clip is made from")


def unit_gain(model: nn.Module, sample: torch.Tensor, last: nn.Conv2d | None = None) -> nn.Module:
    """Rescale a random model's convolutions in place, in one forward pass of sample, so each one's output has std 1
    (LSUV, Mishkin and Matas 2016); `last`'s output gets mean 0.5 and std 0.25, an image's range. Returns model."""

    def rescale(module, inputs, output):
        std = output.std().clamp_min(1e-12)
        if module is last:
            mean, gain = output.mean(), 0.25 / std
            module.weight.mul_(gain)
            module.bias.copy_((module.bias - mean) * gain + 0.5)
            return (output - mean) * gain + 0.5
        module.weight.div_(std)
        module.bias.div_(std)
        return output / std

    hooks = [m.register_forward_hook(rescale) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for hook in hooks:
            hook.remove()
    return model


def random_start(frames: torch.Tensor, steps: int, crop: int, device: torch.device, seed: int = 0) -> FastStyleNet:
    """A stand-in for AdaIN's released encoder-decoder: random weights calibrated on the first frame (unit_gain),
    then the decoder trained `steps` Adam steps (lr 1e-3, 2 random crops a step) to reconstruct the frames, so the
    fast mode starts, as with AdaIN's decoder, from an image-like output. Returns it on the CPU."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FastStyleNet().eval()
    unit_gain(net, frames[:1], last=net.decoder[-1]).to(device)
    optimizer = torch.optim.Adam(net.decoder.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    height, width = frames.shape[-2:]
    for _ in range(steps):
        index = torch.randint(0, frames.shape[0], (2,), generator=generator).tolist()
        top = torch.randint(0, height - crop + 1, (), generator=generator)
        left = torch.randint(0, width - crop + 1, (), generator=generator)
        batch = frames[index, :, top:top + crop, left:left + crop].to(device)
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(net(batch), batch).backward()
        optimizer.step()
    return net.cpu()


class Scorer:
    """The losses of stylized frames, every method scored alike: StyleObjective terms, frame by frame, with one
    fixed draw of patches per frame."""

    def __init__(self, clip, vgg, target, frames: torch.Tensor, settings: StyleSettings, device: torch.device) -> None:
        precision = resolve_precision(settings.precision, device)
        self.objective = StyleObjective(clip, vgg, target, frames.to(device), settings, precision)
        generator = torch.Generator().manual_seed(settings.seed + 1)
        self.params = [sample_patch_params(settings.num_crops, frames.shape[-2:], settings.crop_size,
                                           settings.distortion, 1, generator).to(device)
                       for _ in range(frames.shape[0])]
        self.device = device

    @torch.no_grad()
    def __call__(self, outputs: torch.Tensor) -> list[dict]:
        scores = []
        for i in range(outputs.shape[0]):
            terms = self.objective.terms(outputs[i:i + 1].to(self.device), self.params[i],
                                         torch.tensor([i], device=self.device))
            scores.append({name: float(terms[name]) for name in ("dir", "patch", "content")})
        return scores


def _mean(scores: list[dict], name: str) -> float:
    return sum(s[name] for s in scores) / len(scores)


def _timed(train, device: torch.device) -> tuple[object, float]:
    """Run train(callback) with a StepClock; returns (its result, the mean seconds per step after the first)."""
    clock = StepClock(device)
    start = report.now(device)
    result = train(clock)
    return result, report.step_figures(start, clock.stamps)["s_per_step"]


def paired_step_times(train_off, train_on, pairs: int, device: torch.device) -> dict:
    """Median s/step of short runs without and with the term, alternated (off, on, off, on, ...) so a drift in the
    machine's speed falls on both; the single long runs' ratio varies by about 10 % from run to run here."""
    times = {"off": [], "on": []}
    for _ in range(pairs):
        for key, train in (("off", train_off), ("on", train_on)):
            times[key].append(_timed(train, device)[1])
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    return {"off_s_per_step": off, "on_s_per_step": on, "ratio": round(on / off, 4), "runs": times}


def _row(name: str, outputs: torch.Tensor, clip_data, scores: list[dict], first: int, s_per_step) -> dict:
    row = {"method": name, "warp_error": warping_error(outputs, clip_data.flows[:outputs.shape[0] - 1],
                                                       clip_data.masks[:outputs.shape[0] - 1])}
    if first >= 2:
        row["warp_error_first"] = warping_error(outputs[:first], clip_data.flows[:first - 1],
                                                clip_data.masks[:first - 1])
    row.update({name: _mean(scores, name) for name in ("dir", "patch", "content")})
    row["s_per_step"] = s_per_step
    return row


def _ratio(a, b):
    return round(a / b, 4) if a is not None and b else None


def compare(rows: dict, first: int) -> dict:
    """The figures the targets are about, for the shared and the fast mode."""
    figures = {}
    per_frame = rows.get("per_frame")
    for mode in ("shared", "fast"):
        off, on = rows.get(f"{mode}_off"), rows.get(f"{mode}_on")
        if off is None or on is None:
            continue
        figures[f"{mode}_error_vs_without"] = _ratio(on["warp_error"], off["warp_error"])
        if per_frame is not None:
            figures[f"{mode}_error_vs_per_frame"] = _ratio(on["warp_error_first"], per_frame["warp_error"])
            figures[f"{mode}_without_error_vs_per_frame"] = _ratio(off["warp_error_first"], per_frame["warp_error"])
        for name in ("dir", "patch", "content"):
            figures[f"{mode}_{name}_change"] = round(on[name] / off[name] - 1, 4) if off[name] else None
        figures[f"{mode}_step_time_ratio"] = _ratio(on["s_per_step"], off["s_per_step"])
    return figures


def targets_met(figures: dict) -> dict:
    met = {}
    for key, value in figures.items():
        if value is None or "without_error" in key:
            continue
        if key.endswith("error_vs_without"):
            met[key] = value <= TARGETS["error_vs_without"]
        elif key.endswith("error_vs_per_frame"):
            met[key] = value <= TARGETS["error_vs_per_frame"]
        elif key.endswith("_change"):
            met[key] = abs(value) <= TARGETS["loss_change"]
        elif key.endswith("step_time_ratio"):
            met[key] = value <= TARGETS["step_time_ratio"]
    return met


def print_rows(rows: dict) -> None:
    columns = ("warp_error", "warp_error_first", "dir", "patch", "content", "s_per_step")
    print(f"  {'':12} " + " ".join(f"{c:>16}" for c in columns))
    for key, row in rows.items():
        cells = [row.get(c) for c in columns]
        print(f"  {key:12} " + " ".join(f"{'-' if v is None else format(v, '.5g'):>16}" for v in cells))


def run(args: argparse.Namespace) -> dict:
    """Build the clip, train and apply every method, score them; returns the result dict (also printed)."""
    report.set_threads(args.threads)
    device = torch.device(args.device)
    settings = report.settings_from(args)
    without = dataclasses.replace(settings, lambda_temporal=0.0)
    if settings.lambda_temporal == 0:
        settings = dataclasses.replace(settings, lambda_temporal=SETTINGS_DEFAULTS["lambda_temporal"])
    start = time.perf_counter()
    clip_data = synthetic_clip(load_image(args.image), args.frames, args.size, pan=args.pan, zoom=args.zoom)
    frames = clip_data.frames
    first = min(args.per_frame, args.frames)
    torch.manual_seed(settings.seed)  # the random CLIP and VGG: the same models in every run with this seed
    clip = random_clip(args.clip).to(device)
    vgg = unit_gain(VGGContent(), frames[:1]).to(device)
    target = encode_style_target(clip, STYLE_TEXT)
    scorer = Scorer(clip, vgg, target, frames, without, device)
    other_load = report.OtherLoad()
    rows = {"input": _row("input", frames, clip_data, scorer(frames), first, None)}

    if first >= 2:
        outputs, times = [], []
        for i in range(first):
            (net, _), s_per_step = _timed(lambda clock, i=i: train_stylenet(
                frames[i:i + 1], clip, vgg, target, without, device, clock), device)
            outputs.append(apply_stylenet(net, frames[i:i + 1], device, precision=without.precision))
            times.append(s_per_step)
        outputs = torch.cat(outputs)
        rows["per_frame"] = _row("per frame", outputs, clip_data, scorer(outputs), first, sum(times) / len(times))
        del rows["per_frame"]["warp_error_first"]

    timing = {}
    for key, run_settings in (("shared_off", without), ("shared_on", settings)) if args.shared else ():
        (net, _), s_per_step = _timed(lambda clock, s=run_settings: train_stylenet(
            frames, clip, vgg, target, s, device, clock), device)
        outputs = apply_stylenet(net, frames, device, precision=run_settings.precision)
        rows[key] = _row(key, outputs, clip_data, scorer(outputs), first, s_per_step)
    if args.shared and args.timing_pairs > 0:
        short = {key: dataclasses.replace(s, steps=args.timing_steps)
                 for key, s in (("off", without), ("on", settings))}
        timing["shared"] = paired_step_times(
            lambda clock: train_stylenet(frames, clip, vgg, target, short["off"], device, clock),
            lambda clock: train_stylenet(frames, clip, vgg, target, short["on"], device, clock),
            args.timing_pairs, device)

    if args.fast_steps > 0:
        crop = args.fast_crop_size or min(224, args.size)
        fast = FastSettings(steps=args.fast_steps, batch_size=args.fast_batch, crop_size=crop,
                            num_views=args.fast_views, lr=args.fast_lr, seed=settings.seed,
                            precision=settings.precision, temporal_motion=settings.temporal_motion,
                            temporal_noise=settings.temporal_noise, temporal_crops=args.fast_temporal_crops)
        start_net = random_start(frames, args.fast_pretrain, crop, device, settings.seed)
        for key, weight in (("fast_off", 0.0), ("fast_on", args.fast_lambda_temporal)):
            fast_settings = dataclasses.replace(fast, lambda_temporal=weight)
            (net, _), s_per_step = _timed(lambda clock, s=fast_settings: train_fast_stylenet(
                frames, clip, target, start_net, s, device, clock), device)
            outputs = apply_stylenet(net, frames, device, precision=fast_settings.precision)
            rows[key] = _row(key, outputs, clip_data, scorer(outputs), first, s_per_step)
        if args.timing_pairs > 0:
            short = {key: dataclasses.replace(fast, steps=args.timing_steps, lambda_temporal=weight)
                     for key, weight in (("off", 0.0), ("on", args.fast_lambda_temporal))}
            timing["fast"] = paired_step_times(
                lambda clock: train_fast_stylenet(frames, clip, target, start_net, short["off"], device, clock),
                lambda clock: train_fast_stylenet(frames, clip, target, start_net, short["on"], device, clock),
                args.timing_pairs, device)

    figures = compare(rows, first)
    for mode, paired in timing.items():  # the alternating runs' ratio is the figure; the long runs' stays beside it
        figures[f"{mode}_step_time_ratio_long_runs"] = figures.pop(f"{mode}_step_time_ratio", None)
        figures[f"{mode}_step_time_ratio"] = paired["ratio"]
    result = {
        "benchmark": "temporal",
        **figures,
        "targets_met": targets_met(figures),
        "rows": {key: {k: (float(f"{v:.5g}") if isinstance(v, float) else v) for k, v in row.items()}
                 for key, row in rows.items()},
        "size": args.size,
        "frames": args.frames,
        "per_frame": first,
        "pan": args.pan,
        "zoom": args.zoom,
        "steps": settings.steps,
        "lambda_temporal": settings.lambda_temporal,
        "fast_lambda_temporal": args.fast_lambda_temporal if args.fast_steps > 0 else None,
        "fast_temporal_crops": args.fast_temporal_crops if args.fast_steps > 0 else None,
        "timing": timing,
        "temporal_motion": settings.temporal_motion,
        "temporal_noise": settings.temporal_noise,
        "clip": args.clip,
        "settings": settings.to_dict(),
        "total_s": round(time.perf_counter() - start, 2),
        **report.environment(device, other_load),
    }
    print("== temporal: warping error (Lai et al. 2018), losses and s/step per method ==")
    print_rows(rows)
    report.emit("temporal (clipstyler.temporal, clipstyler.warping_error)", result,
                hide=("settings", "rows", "timing"))
    return result
