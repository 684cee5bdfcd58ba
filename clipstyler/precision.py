"""Mixed precision for the optimisation: which dtype to autocast to, and whether to scale the loss.

"fp32" is the exact reference computation. "auto" picks fp32 on the CPU (only CPUs with native bf16 gain from
bf16, measure with bench/ first) and on CUDA bf16 where supported, else fp16 (the reference runs CLIP in fp16 on
CUDA). Parameters, the optimiser and the loss reductions stay fp32 in every mode.
"""

from __future__ import annotations

import contextlib
import functools
import logging

import torch

from .errors import CLIPstylerError
from .settings import PRECISIONS

log = logging.getLogger(__name__)

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """'auto' -> a concrete precision for the device; the others pass through (with a warning where slow)."""
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise CLIPstylerError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        if device.type == "cpu" and precision != "fp32" and not _cpu_has_native_bf16():
            log.warning("precision %s on a CPU without native bf16 falls back to slow kernels (measured about 40x "
                        "slower than fp32 on an AVX2 CPU); fp32 or auto is faster here", precision)
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


@functools.cache
def _cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """An autocast context for a concrete precision ('fp32' gives a no-op)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=_DTYPES[precision])


def grad_scaler(precision: str, device: torch.device | str) -> torch.amp.GradScaler:
    """Loss scaling for fp16; disabled (a pass-through) for the other precisions.

    It starts at 1, not at GradScaler's 2**16: CLIPstyler's loss is already large (lambda_patch 9000), and 2**16
    times it overflows fp16, so the first ten or so steps of a run would be skipped while the scale came down.
    The reference runs CLIP in fp16 without any scaling; the scaler still halves the scale (and skips the step) if a
    gradient ever overflows, and grows it again after a long run without overflow.
    """
    return torch.amp.GradScaler(torch.device(device).type, init_scale=1.0, enabled=precision == "fp16")
