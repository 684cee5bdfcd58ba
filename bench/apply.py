"""Benchmark of the fast style apply (clipstyler.apply.apply_stylenet) on a batch of frames.

A randomly initialised StyleNet (the cost is the architecture's) stylizes `frames` copies of the bundled image at
`size` x `size`-ish (the image's aspect ratio kept), at each frame's own resolution, in chunks of --chunk-size.
--kind picks the net: the per-image mode's U-Net (unet) or the fast mode's AdaIN encoder-decoder (adain).
"""

from __future__ import annotations

import argparse

import torch

from clipstyler.adain import FastStyleNet
from clipstyler.apply import apply_stylenet, auto_chunk_size
from clipstyler.precision import resolve_precision
from clipstyler.stylenet import build_stylenet

from . import report
from .optimize import load_content

# Above this much frame data (inputs + outputs) on the CPU, print a note that the run may be slow.
LARGE_RUN_MB = 4096
# Random weights: the cost is the architecture's.
KINDS = {"unet": lambda: build_stylenet(seed=0), "adain": lambda: FastStyleNet().eval()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=512, help="frame long side in px (default 512)")
    parser.add_argument("--frames", type=int, default=64, help="frames in the batch (default 64)")
    parser.add_argument("--chunk-size", type=int, default=0,
                        help="frames per StyleNet pass; 0 (default): apply_stylenet's auto (8 at 512 px, 1 at 2048)")
    parser.add_argument("--kind", choices=sorted(KINDS), default="unet",
                        help="unet: the per-image mode's StyleNet; adain: the fast mode's encoder-decoder")
    parser.add_argument("--warmup", type=int, default=1, help="untimed warm-up passes of one chunk (default 1)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs over all frames; the best counts")
    report.add_common_arguments(parser, "frame image", precision="auto")


def make_frames(path: str, size: int, frames: int) -> torch.Tensor:
    """(frames, 3, H, W) in [0, 1]: the image at long side `size`, each frame with a little different noise."""
    image = load_content(path, size)
    generator = torch.Generator().manual_seed(0)
    noise = torch.rand((frames, *image.shape[1:]), generator=generator).mul_(0.02)
    return noise.add_(image).clamp_(0, 1)


def frame_data_mb(frames: torch.Tensor) -> float:
    """Inputs plus outputs (the result is a float tensor of the same shape) in MiB."""
    return 2 * frames.numel() * frames.element_size() / 2**20


def run(args: argparse.Namespace) -> dict:
    """Warm up on one chunk, then time apply_stylenet over all frames; returns the result dict (also printed)."""
    report.set_threads(args.threads)
    device = torch.device(args.device)
    frames = make_frames(args.image, args.size, args.frames)
    if device.type == "cpu" and frame_data_mb(frames) > LARGE_RUN_MB:
        print(f"note: {args.frames} frames of {tuple(frames.shape[-2:])} hold {frame_data_mb(frames):.0f} MiB "
              "in and out; on a CPU this is slow, lower --frames for a quicker figure", flush=True)
    chunk = args.chunk_size or auto_chunk_size(*frames.shape[-2:])
    net = KINDS[args.kind]()
    precision = resolve_precision(args.precision, device)
    for _ in range(args.warmup):
        apply_stylenet(net, frames[:chunk], device, chunk_size=chunk, precision=precision)
    report.reset_peak_memory(device)
    times, other_load = [], report.OtherLoad()
    for _ in range(max(1, args.repeats)):
        start = report.now(device)
        apply_stylenet(net, frames, device, chunk_size=chunk, precision=precision)
        times.append(report.now(device) - start)
    best = min(times)
    result = {
        "benchmark": "apply",
        "frames_per_s": round(args.frames / best, 3),
        "s_per_frame": round(best / args.frames, 4),
        "total_s": round(best, 4),
        "run_s": [round(t, 4) for t in times],
        "peak_mem_mb": round(report.peak_memory_mb(device), 1),
        "size": args.size,
        "frame_hw": list(frames.shape[-2:]),
        "frames": args.frames,
        "chunk_size": chunk,
        "kind": args.kind,
        "precision": precision,
        **report.environment(device, other_load),
    }
    report.emit("apply (clipstyler.apply.apply_stylenet)", result)
    return result
