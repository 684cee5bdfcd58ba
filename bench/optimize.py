"""Benchmark of the per-image optimisation loop (clipstyler.optimize.train_stylenet).

Randomly initialised weights of the real architectures (open_clip ViT-B-32-quickgelu, i.e. OpenAI's ViT-B/32, and
VGG-19 up to relu5_2): the weights do not change the cost, so nothing has to be downloaded. The optimisation settings
are the command line's flags (built from StyleSettings); --steps is the number of steps to time. A StepReport
callback timestamps each step.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

import clipstyler.clip.model as clip_model_module
import clipstyler.optimize as optimize_module
from clipstyler.clip.loading import random_clip
from clipstyler.image import processing_size, resize
from clipstyler.image_io import load_image
from clipstyler.optimize import StepReport, train_stylenet
from clipstyler.precision import resolve_precision
from clipstyler.settings import StyleSettings
from clipstyler.text import encode_style_target
from clipstyler.vgg import VGGContent

from . import report

STYLE_TEXT = "oil painting by Van Gogh"
DEFAULTS = StyleSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The optimisation settings as the command line has them (built from StyleSettings), then this benchmark's own
    flags: --steps to time (replacing the settings' --steps), --device, --threads, --image, --clip, and the A/B
    switch --no-clip-speedups."""
    report.add_settings_arguments(parser)
    parser.add_argument("--steps", type=int, default=5, help="optimisation steps to time (default 5; >= 2 for "
                        "s_per_step)")
    report.add_common_arguments(parser, "content image")
    parser.add_argument("--clip", default=report.DEFAULT_CLIP, help="open_clip architecture, random weights "
                        f"(default {report.DEFAULT_CLIP}: OpenAI's ViT-B/32)")
    parser.add_argument("--no-clip-speedups", action="store_true",
                        help="build CLIP without clipstyler's exact speed-ups (clipstyler/clip/speedups.py), for an "
                        "A/B figure")


def load_content(path: str, size: int) -> torch.Tensor:
    """The image as (1, 3, H, W) in [0, 1] at the processing size (long side `size`, aspect ratio kept)."""
    image = load_image(path)
    return resize(image, processing_size(*image.shape[-2:], size))


class StepClock:
    """A StepReport callback that records when each step ended (after a CUDA sync on a GPU)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.stamps: list[float] = []

    def __call__(self, step: StepReport) -> None:
        self.stamps.append(report.now(self.device))
        report.progress(step.step, step.steps, self.stamps)


@contextlib.contextmanager
def objective_ready_clock(device: torch.device):
    """Record when train_stylenet has finished building its StyleObjective (the setup before step 1).

    train_stylenet builds the objective itself, so this wraps clipstyler.optimize.StyleObjective for the duration
    (restored afterwards). Yields a list that receives the timestamp; it stays empty if the name ever moves.
    """
    stamps: list[float] = []
    original = getattr(optimize_module, "StyleObjective", None)
    if original is None:
        yield stamps
        return

    class TimedObjective(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            stamps.append(report.now(device))

    optimize_module.StyleObjective = TimedObjective
    try:
        yield stamps
    finally:
        optimize_module.StyleObjective = original


@contextlib.contextmanager
def without_clip_speedups(active: bool = True):
    """While active, StylerCLIP is built as plain open_clip: clipstyler.clip.model.speed_up_vision_tower becomes a
    no-op (restored afterwards). For A/B figures and for the reference cost model, whose CLIP has no such thing."""
    original = getattr(clip_model_module, "speed_up_vision_tower", None)
    if not active or original is None:
        yield
        return
    clip_model_module.speed_up_vision_tower = lambda model: None
    try:
        yield
    finally:
        clip_model_module.speed_up_vision_tower = original


def build_models(clip_name: str, device: torch.device):
    """Random-init CLIP and VGG on the device, and a style target encoded with that CLIP."""
    clip = random_clip(clip_name).to(device)
    vgg = VGGContent().to(device)
    return clip, vgg, encode_style_target(clip, STYLE_TEXT)


def settings_from(args: argparse.Namespace) -> StyleSettings:
    """The run's StyleSettings: every field from its flag, steps from the benchmark's --steps."""
    return report.settings_from(args)


def timed_setup(args: argparse.Namespace, device: torch.device):
    """Build CLIP and VGG, then encode the style target; returns (clip, vgg, target, start time, seconds per part)."""
    start = report.now(device)
    with without_clip_speedups(args.no_clip_speedups):
        clip = random_clip(args.clip).to(device)
    vgg = VGGContent().to(device)
    models_ready = report.now(device)
    target = encode_style_target(clip, STYLE_TEXT)  # 2 x 79 prompt templates through CLIP's text encoder
    seconds = {"models_s": round(models_ready - start, 4), "target_s": round(report.now(device) - models_ready, 4)}
    return clip, vgg, target, start, seconds


def run(args: argparse.Namespace) -> dict:
    """Time one train_stylenet run; returns the result dict (also printed)."""
    report.set_threads(args.threads)
    device = torch.device(args.device)
    settings = settings_from(args)
    content = load_content(args.image, args.size)
    report.reset_peak_memory(device)
    clip, vgg, target, start, setup_parts = timed_setup(args, device)
    clock = StepClock(device)
    with objective_ready_clock(device) as ready:
        loop_start = report.now(device)
        other_load = report.OtherLoad()
        train_stylenet(content, clip, vgg, target, settings, device, callback=clock)
    step_zero = ready[0] if ready else loop_start
    result = {
        "benchmark": "optimize",
        "setup_s": round(step_zero - start, 4),
        **setup_parts,
        "objective_s": round(step_zero - loop_start, 4),
        **report.step_figures(step_zero, clock.stamps),
        "peak_mem_mb": round(report.peak_memory_mb(device), 1),
        "size": args.size,
        "image_hw": list(content.shape[-2:]),
        "image": args.image.rsplit("/", 1)[-1],
        "crops": settings.num_crops,
        "crop_size": settings.crop_size,
        "crop_batch": settings.crop_batch,
        "steps": settings.steps,
        "clip": args.clip,
        "clip_speedups": not args.no_clip_speedups,
        "torch_compile": settings.torch_compile,
        "channels_last": settings.channels_last,
        "precision": resolve_precision(settings.precision, device),
        "settings": settings.to_dict(),
        "total_s": round(time.perf_counter() - start, 4),
        **report.environment(device, other_load),
    }
    report.emit("optimize (clipstyler.optimize.train_stylenet)", result, hide=("settings",))
    return result
