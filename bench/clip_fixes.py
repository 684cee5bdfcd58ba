"""Experiment behind PROFILE.md's suggestions 1 and 2 (not used by the product): `python -m bench.clip_fixes 17 65`.

Times CLIP encode_image forward + input gradient (what each optimisation step does) on N images, as now, then with
(1) every attention block fed a contiguous (L, N, E) tensor, so its in-projection is one matmul instead of a bmm
with a 50x expanded weight, and (2) the stride-32 patch embedding done as reshape + matmul. Prints the times and
the relative differences of the embeddings and the input gradients.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from clipstyler.clip_loading import random_clip


class PatchEmbedding(nn.Module):
    """A Conv2d with kernel = stride = p and no bias, as reshape + matmul (same result, cheap input gradient)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv, self.p = conv, conv.kernel_size[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        p, gh, gw = self.p, h // self.p, w // self.p
        patches = x.reshape(n, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(n, gh * gw, c * p * p)
        out = patches @ self.conv.weight.reshape(self.conv.out_channels, -1).t()
        return out.transpose(1, 2).reshape(n, -1, gh, gw)


def _to_sequence_first(module, args, kwargs):
    q = args[0].transpose(0, 1).contiguous()  # (N, L, E) -> contiguous (L, N, E); self-attention: q = k = v
    return (q, q, q), kwargs


def _to_batch_first(module, args, kwargs, output):
    return (output[0].transpose(0, 1), *output[1:])


def contiguous_attention(clip) -> None:
    """Fix 1: attention blocks take a contiguous (L, N, E) input (batch_first=False) and give back (N, L, E)."""
    for block in clip.model.visual.transformer.resblocks:
        block.attn.batch_first = False
        block.attn.register_forward_pre_hook(_to_sequence_first, with_kwargs=True)
        block.attn.register_forward_hook(_to_batch_first, with_kwargs=True)


def time_encode(clip, images: torch.Tensor, repeats: int = 3):
    """Best time of forward + backward to the images; returns (seconds, embeddings, input gradient)."""
    best = float("inf")
    for _ in range(repeats):
        x = images.clone().requires_grad_(True)
        start = time.perf_counter()
        embeddings = clip.encode_image(x)
        embeddings.sum().backward()
        best = min(best, time.perf_counter() - start)
    return best, embeddings.detach(), x.grad


def _relative(a: torch.Tensor, b: torch.Tensor) -> str:
    return f"{((a - b).abs().max() / b.abs().max()).item():.1e}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.clip_fixes", description=__doc__)
    parser.add_argument("images", type=int, nargs="+", help="batch sizes (17 = 256²/16 crops, 65 = 512²/64 crops)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    for n in args.images:
        images = torch.rand(n, 3, 224, 224)
        clip = random_clip("ViT-B-32")
        t0, e0, g0 = time_encode(clip, images)
        contiguous_attention(clip)
        t1, e1, g1 = time_encode(clip, images)
        clip.model.visual.conv1 = PatchEmbedding(clip.model.visual.conv1)
        t2, e2, g2 = time_encode(clip, images)
        print(f"N={n} threads={torch.get_num_threads()}: as now {t0:.3f} s | + contiguous attention {t1:.3f} s "
              f"(diff {_relative(e1, e0)}, grad {_relative(g1, g0)}) | + patch embedding as matmul {t2:.3f} s "
              f"(diff {_relative(e2, e0)}, grad {_relative(g2, g0)})", flush=True)


if __name__ == "__main__":
    main()
