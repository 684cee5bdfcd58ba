"""`python -m bench <benchmark> [options]`; `python -m bench <benchmark> --help` lists a benchmark's options."""

from __future__ import annotations

import argparse
import warnings

from . import (
    apply,
    fast,
    flops,
    gpu,
    optimize,
    pairs,
    precision_ab,
    profile,
    reference,
    report,
    temporal,
    temporal_cost,
    weight_casts,
)

BENCHMARKS = {
    "optimize": (optimize, "time the per-image optimisation loop (train_stylenet)"),
    "apply": (apply, "time the fast style apply (apply_stylenet) on a batch of frames"),
    "fast": (fast, "time the fast mode's training (train_fast_stylenet), seconds per iteration"),
    "reference": (reference, "time a cost model of the authors' loop, for comparison"),
    "pairs": (pairs, "ours against the reference cost model in alternating pairs of runs; medians and ratios"),
    "precision": (precision_ab, "the same run in fp32 and bf16 (or fp16): losses and image difference"),
    "profile": (profile, "torch.profiler table of one optimisation step"),
    "gpu": (gpu, "every GPU figure in one command (200 steps at 512², apply frames/s, fast training, tests)"),
    "flops": (flops, "FLOPs of one step, ours vs the reference, and the floor they set on the time per step"),
    "temporal": (temporal, "flicker: warping error of per-frame, shared and fast stylization, without and with "
                 "the temporal term, with their losses and step times"),
    "temporal-cost": (temporal_cost, "what the temporal term's extra pass adds to a fast-mode step, timed directly"),
    "weight-casts": (weight_casts, "what autocast's per-pass casts of the frozen CLIP and VGG weights cost a bf16 "
                     "step (now made once per run)"),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="benchmark", required=True)
    for name, (module, help_text) in BENCHMARKS.items():
        # "resolve": a benchmark's own --steps (steps to time) replaces the settings' --steps
        sub = commands.add_parser(name, help=help_text, description=module.__doc__,
                                  formatter_class=report.HelpFormatter, conflict_handler="resolve")
        module.add_arguments(sub)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    # The reference calls scheduler.step() before optimizer.step(); its warning is expected there.
    warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
    BENCHMARKS[args.benchmark][0].run(args)


if __name__ == "__main__":
    main()
