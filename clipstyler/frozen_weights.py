"""Frozen models' layer weights in the autocast dtype for a whole run, instead of a new cast at every call.

Under autocast, a linear layer or a convolution casts its float32 weight to bf16 (or fp16) each time it runs. The
cast is cached only for weights that need gradients, and CLIP and VGG are frozen. So every CLIP pass cast all of
ViT-B/32's 87 M layer weights again: at 64 crops in chunks of 16 that is five times a step, about 0.44 s of casting
per step on a 2-core CPU (`python -m bench weight-casts`, bench/RESULTS.md).

Casting them once per run gives the same numbers: these are the casts autocast would make, and autocast passes a
tensor already in its dtype through unchanged. Only the weights that autocast always casts change: those of
nn.Linear and nn.Conv* layers and of attention's packed in-projection. Norms, embeddings, trainable weights and
anything else stay float32, as autocast keeps them. Every pass through these models inside the context must
therefore run under autocast (a float32 input meeting a bf16 weight fails with a dtype error, loudly).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from .precision import autocast_dtype

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_ATTENTION_PROJECTIONS = ("in_proj_weight", "in_proj_bias")  # nn.MultiheadAttention's, consumed by F.linear


def autocast_cast_weights(models: Iterable[nn.Module]) -> list[nn.Parameter]:
    """The frozen float32 parameters of models that autocast casts at every call, each once."""
    found: dict[int, nn.Parameter] = {}
    for model in models:
        for module in model.modules():
            if isinstance(module, _LAYERS):
                candidates = [module.weight, module.bias]
            elif isinstance(module, nn.MultiheadAttention):
                candidates = [getattr(module, name, None) for name in _ATTENTION_PROJECTIONS]
            else:
                continue
            for parameter in candidates:
                if parameter is not None and not parameter.requires_grad and parameter.dtype == torch.float32:
                    found.setdefault(id(parameter), parameter)
    return list(found.values())


@contextlib.contextmanager
def frozen_weights_in(precision: str, *models: nn.Module) -> Iterator[list[nn.Parameter]]:
    """Inside the block, the frozen layer weights of models are in precision's autocast dtype; after it (also on an
    error or a cancel) they are again the very float32 tensors they were. 'fp32' changes nothing.

    Yields the parameters it converted.
    """
    dtype = autocast_dtype(precision)
    parameters = autocast_cast_weights(models) if dtype != torch.float32 else []
    originals = [parameter.data for parameter in parameters]
    try:
        for parameter, original in zip(parameters, originals):
            parameter.data = original.to(dtype)
        yield parameters
    finally:
        for parameter, original in zip(parameters, originals):
            parameter.data = original
