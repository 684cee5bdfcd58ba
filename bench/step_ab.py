"""A/B of one speed option on whole optimisation steps, alternating in one process:
`python -m bench.step_ab torch_compile` or `python -m bench.step_ab channels_last`.

Separate `bench optimize` runs cannot show a 5-10 % difference on a machine whose speed drifts by more than that
between minutes. This builds two StyleObjectives on the same models, content and crops, one with the option off and
one with it on, runs a warm-up step of each (the compile, for torch_compile), then alternates timed steps
(StyleNet forward + objective backward, as train_stylenet does) and reports the best and the median of each.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from clipstyler.augment import sample_patch_params
from clipstyler.frozen_weights import frozen_weights_in
from clipstyler.objective import StyleObjective
from clipstyler.optimize import stylenet_pass
from clipstyler.precision import resolve_precision
from clipstyler.settings import StyleSettings
from clipstyler.stylenet import build_stylenet

from . import report
from .optimize import DEFAULTS, build_models, load_content

OPTIONS = ("torch_compile", "channels_last")


class Variant:
    """One side of the A/B: an objective and a StyleNet built with the option on or off."""

    def __init__(self, settings: StyleSettings, clip, vgg, target, content: torch.Tensor, precision: str) -> None:
        self.settings = settings
        self.device = content.device
        memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
        self.content = content.contiguous(memory_format=memory_format)
        self.net = build_stylenet(seed=0).to(self.device, memory_format=memory_format).train()
        self.objective = StyleObjective(clip, vgg, target, content, settings, precision=precision)
        self.precision = precision

    def step(self, params) -> float:
        """Seconds for one step's forward and backward (after the device has finished it)."""
        start = report.now(self.device)
        self.net.zero_grad(set_to_none=True)
        output, _ = stylenet_pass(self.net, self.content, self.precision)  # as train_stylenet's steps run it
        self.objective.backward(output, params)
        return report.now(self.device) - start


def run(args: argparse.Namespace) -> dict:
    report.set_threads(args.threads)
    device = torch.device(args.device)
    content = load_content(args.image, args.size).to(device)
    clip, vgg, target = build_models(args.clip, device)
    sides = {value: report.settings_from(args, steps=DEFAULTS.steps, **{args.option: value}) for value in (False, True)}
    precision = resolve_precision(sides[False].precision, device)
    with frozen_weights_in(precision, clip.image_tower, vgg):  # as train_stylenet runs its steps
        variants = {value: Variant(settings, clip, vgg, target, content, precision)
                    for value, settings in sides.items()}
        settings = variants[False].settings
        params = sample_patch_params(settings.num_crops, content.shape[-2:], settings.crop_size, settings.distortion,
                                     1, torch.Generator().manual_seed(0)).to(device)
        warm_up = {value: round(variant.step(params), 2) for value, variant in variants.items()}
        other_load = report.OtherLoad()
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for value, variant in variants.items():
                times[value].append(round(variant.step(params), 3))
    off, on = min(times[False]), min(times[True])
    result = {
        "benchmark": "step_ab",
        "option": args.option,
        "off_best_s": off,
        "on_best_s": on,
        "on_saves": round(1 - on / off, 3),
        "off_median_s": statistics.median(times[False]),
        "on_median_s": statistics.median(times[True]),
        "off_s": times[False],
        "on_s": times[True],
        "warm_up_s": {"off": warm_up[False], "on": warm_up[True]},
        "size": args.size,
        "crops": settings.num_crops,
        "crop_batch": settings.crop_batch,
        "precision": precision,
        "clip": args.clip,
        **report.environment(device, other_load),
    }
    report.emit(f"A/B of {args.option} on whole steps ({precision})", result)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.step_ab", description=__doc__,
                                     formatter_class=report.HelpFormatter, conflict_handler="resolve")
    parser.add_argument("option", choices=OPTIONS, help="the StyleSettings option to turn on for side B")
    report.add_settings_arguments(parser)  # the settings both sides share; `option` is then off for A, on for B
    parser.add_argument("--rounds", "--steps", dest="rounds", type=int, default=3,
                        help="timed steps of each side, alternating (default 3)")
    parser.add_argument("--clip", default=report.DEFAULT_CLIP, help="open_clip architecture, random weights")
    report.add_common_arguments(parser, "content image")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
