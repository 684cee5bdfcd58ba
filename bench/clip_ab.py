"""A/B of clipstyler's exact CLIP speed-ups (clipstyler/clip/speedups.py, found with PROFILE.md):
`python -m bench.clip_ab 17 65`.

Times CLIP encode_image forward + input gradient (what each optimisation step does to CLIP) on N images, for the
same random weights built plain (open_clip as it is) and with the speed-ups, alternating, best of --repeats each.
Prints both times and the largest relative differences of the embeddings and of the input gradients.

`python -m bench.clip_ab 64 --reference-layout` instead compares, for the reference cost model, open_clip's
batch-first image tower with the sequence-first tower of OpenAI's `clip` package (bench/openai_clip.py), same
weights, both with the weight gradients the authors' loop computes.
"""

from __future__ import annotations

import argparse
import time
import types

import open_clip
import torch

from clipstyler.clip.loading import random_clip

from .openai_clip import from_open_clip
from .optimize import without_clip_speedups
from .report import DEFAULT_CLIP


def time_encode(clip, images: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Seconds for forward + backward to the images; with the embeddings and the input gradient."""
    x = images.clone().requires_grad_(True)
    start = time.perf_counter()
    embeddings = clip.encode_image(x)
    embeddings.sum().backward()
    return time.perf_counter() - start, embeddings.detach(), x.grad


def _relative(a: torch.Tensor, b: torch.Tensor) -> str:
    return f"{((a - b).abs().max() / b.abs().max()).item():.1e}"


def compare(n: int, repeats: int) -> str:
    """One line: plain vs sped-up CLIP on n random 224 px images."""
    images = torch.rand(n, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with without_clip_speedups():
        plain = random_clip("ViT-B-32")
    fast = random_clip("ViT-B-32")
    fast.model.load_state_dict(plain.model.state_dict())
    best = {"plain": float("inf"), "fast": float("inf")}
    results = {}
    for _ in range(repeats):
        for name, clip in (("plain", plain), ("fast", fast)):
            seconds, embeddings, grad = time_encode(clip, images)
            best[name] = min(best[name], seconds)
            results[name] = (embeddings, grad)
    (e0, g0), (e1, g1) = results["plain"], results["fast"]
    return (f"N={n} threads={torch.get_num_threads()}: plain open_clip {best['plain']:.3f} s | with "
            f"clip_speedups {best['fast']:.3f} s ({1 - best['fast'] / best['plain']:.0%} less) | embedding diff "
            f"{_relative(e1, e0)}, input-gradient diff {_relative(g1, g0)}")


def compare_reference_layout(n: int, repeats: int) -> str:
    """One line: open_clip's batch-first tower vs OpenAI's sequence-first one, weights trainable, on n images."""
    images = torch.rand(n, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    model = open_clip.create_model(DEFAULT_CLIP, pretrained=None).eval().requires_grad_(True)
    towers = {"open_clip": model.visual, "openai": from_open_clip(model.visual).requires_grad_(True)}
    best = {name: float("inf") for name in towers}
    results = {}
    for _ in range(repeats):
        for name, tower in towers.items():
            tower.zero_grad(set_to_none=True)
            seconds, embeddings, grad = time_encode(types.SimpleNamespace(encode_image=tower), images)
            best[name] = min(best[name], seconds)
            results[name] = (embeddings, grad)
    (e0, g0), (e1, g1) = results["open_clip"], results["openai"]
    saving = 1 - best["openai"] / best["open_clip"]
    return (f"N={n} threads={torch.get_num_threads()}, weights need grad: open_clip batch-first {best['open_clip']:.3f}"
            f" s | OpenAI sequence-first {best['openai']:.3f} s (saving {saving:.0%}) | "
            f"embedding diff {_relative(e1, e0)}, input-gradient diff {_relative(g1, g0)}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.clip_ab", description=__doc__)
    parser.add_argument("images", type=int, nargs="+", help="batch sizes (17 = 256²/16 crops, 65 = 512²/64 crops)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each, alternating (default 3)")
    parser.add_argument("--reference-layout", action="store_true", help="compare the reference cost model's CLIP "
                        "layouts instead (open_clip batch-first vs OpenAI sequence-first, weights trainable)")
    args = parser.parse_args(argv)
    for n in args.images:
        line = compare_reference_layout(n, args.repeats) if args.reference_layout else compare(n, args.repeats)
        print(line, flush=True)


if __name__ == "__main__":
    main()
