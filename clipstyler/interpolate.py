"""Blending two trained styles, as the authors' test_intp.py blends two fine-tuned decoders: weights
(1 - w) * a + w * b.

Interpolating weights only makes sense for two nets of the same kind fine-tuned from the same starting point: fast
nets from the same AdaIN decoder (with the same encoder), U-Nets trained from the same seed and width. For nets that
share no start, the outputs are blended instead ((1 - w) * a(x) + w * b(x)), with a warning saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import nn

from .adain import FastStyleNet
from .apply import apply_stylenet
from .errors import CLIPstylerError
from .stylenet import StyleNet
from .stylenet_file import TrainedStyle

log = logging.getLogger(__name__)


def parse_weights(text: str) -> list[float]:
    """'0, 0.25, 0.5' (commas or spaces) -> [0.0, 0.25, 0.5]; each in [0, 1]."""
    parts = [part for part in text.replace(",", " ").split() if part]
    if not parts:
        raise CLIPstylerError("weights is empty: give one or more numbers from 0 (style a) to 1 (style b), e.g. "
                              "'0, 0.25, 0.5, 0.75, 1'")
    try:
        weights = [float(part) for part in parts]
    except ValueError as error:
        raise CLIPstylerError(f"weights must be numbers from 0 to 1 separated by commas, got {text!r}") from error
    outside = [w for w in weights if not 0.0 <= w <= 1.0]
    if outside:
        raise CLIPstylerError(f"weights must lie in [0, 1] (0: style a, 1: style b), got {outside[0]}")
    return weights


def _unet_start(style: TrainedStyle) -> tuple | None:
    if "seed" not in style.settings:
        return None
    return int(style.settings["seed"]), int(style.settings.get("ngf", style.stylenet.ngf))


def why_not_shared(a: TrainedStyle, b: TrainedStyle) -> str | None:
    """None when a and b share a starting point (their weights may be interpolated); otherwise why not."""
    net_a, net_b = a.stylenet, b.stylenet
    if type(net_a) is not type(net_b) or not isinstance(net_a, (StyleNet, FastStyleNet)):
        return f"they are different kinds of net ({a.kind} and {b.kind})"
    if isinstance(net_a, FastStyleNet):
        same_encoder = all(torch.equal(x, y) for x, y in zip(net_a.encoder.state_dict().values(),
                                                              net_b.encoder.state_dict().values()))
        if not same_encoder:
            return "their encoders differ (different vgg_normalised.pth files)"
        if a.start and b.start and a.start != b.start:
            return f"they were fine-tuned from different decoders ({a.start} and {b.start})"
        return None
    start_a, start_b = _unet_start(a), _unet_start(b)
    if start_a is None or start_b is None:
        return "a file does not record the seed its StyleNet started from"
    if start_a != start_b:
        return (f"they started from different weights (seed {start_a[0]}, width {start_a[1]} and seed {start_b[0]}, "
                f"width {start_b[1]}): train both with the same seed to interpolate their weights")
    return None


@torch.no_grad()
def interpolate_weights(a: nn.Module, b: nn.Module, weight: float) -> nn.Module:
    """A copy of a with every floating-point tensor (1 - w) * a + w * b (w = 0 gives a, w = 1 gives b, exactly)."""
    import copy

    with torch.inference_mode(False):
        out = copy.deepcopy(a).cpu()
        state_b = {key: value.detach().cpu() for key, value in b.state_dict().items()}
        blended = {key: (1.0 - weight) * value + weight * state_b[key] if value.is_floating_point() else value
                   for key, value in out.state_dict().items()}
        out.load_state_dict(blended)
    return out.eval()


class OutputBlend(nn.Module):
    """(1 - w) * a(x) + w * b(x): two nets that share no start, blended where they can be, in their outputs."""

    def __init__(self, a: nn.Module, b: nn.Module, weight: float) -> None:
        super().__init__()
        self.a, self.b, self.weight = a, b, weight

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # Each output clamped first, as apply_stylenet shows either one alone.
        return (1.0 - self.weight) * self.a(images).clamp(0, 1) + self.weight * self.b(images).clamp(0, 1)


def blend_styles(a: TrainedStyle, b: TrainedStyle, weight: float, warn: bool = True) -> TrainedStyle:
    """The style (1 - w) * a + w * b: interpolated weights where a and b share a start, else blended outputs (with
    a warning that says why, unless warn is False)."""
    if not 0.0 <= weight <= 1.0:
        raise CLIPstylerError(f"weight must lie in [0, 1] (0: style a, 1: style b), got {weight}")
    reason = why_not_shared(a, b)
    texts = f"{1 - weight:g} x {a.style_text!r} + {weight:g} x {b.style_text!r}"
    record = {"interpolated": {"a": a.style_text, "b": b.style_text, "weight": weight}}
    if reason is None:
        net = interpolate_weights(a.stylenet, b.stylenet, weight)
        return TrainedStyle(net, texts, a.source_text, a.clip_name, {**a.settings, **record}, a.start)
    if warn:
        log.warning("these two styles cannot be interpolated in their weights: %s; blending their outputs instead",
                    reason)
    net = OutputBlend(a.stylenet, b.stylenet, weight)
    return TrainedStyle(net, texts, a.source_text, a.clip_name, {**record, "blended_outputs": reason})


def interpolation_frames(a: TrainedStyle, b: TrainedStyle, images: torch.Tensor, weights: Sequence[float],
                         device: torch.device | str = "cpu", **apply_options) -> torch.Tensor:
    """Every image under every weight, weight-major: (len(weights) * B, 3, H, W) on the CPU (an animation from a
    to b when images is one picture). apply_options go to apply_stylenet (chunk_size, size, precision, on_chunk)."""
    warn = [True] + [False] * (len(weights) - 1)  # say it once
    frames = [apply_stylenet(blend_styles(a, b, w, first).stylenet, images, device, **apply_options)
              for w, first in zip(weights, warn)]
    return torch.cat(frames)
