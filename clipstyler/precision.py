"""Mixed precision for the optimisation: which dtype to autocast to, and whether to scale the loss.

"fp32" is the exact reference computation. "auto" picks, on CUDA, bf16 where supported, else fp16 (the reference
runs CLIP in fp16 on CUDA); on a CPU, bf16 where the CPU computes it natively (AMX or AVX512-BF16: a step at 512 px
measured 2.7x faster than fp32 on a 2-core AVX512-BF16 CPU, bench/RESULTS.md) and fp32 elsewhere (an AVX2 CPU
emulates bf16, about 40x slower); fp32 on other devices. The CPU is asked through torch where it can say, else
through /proc/cpuinfo. The choice is logged once per device. Parameters, the optimiser and the loss reductions stay
fp32 in every mode.
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


def autocast_dtype(precision: str) -> torch.dtype:
    """The dtype a concrete precision computes matrix products in (float32 for 'fp32')."""
    return _DTYPES.get(precision, torch.float32)


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """'auto' -> a concrete precision for the device; the others pass through (with a warning where slow)."""
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise CLIPstylerError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        if device.type == "cpu" and precision != "fp32" and not _cpu_has_native_bf16():
            _warn_slow_half_precision(precision)
        return precision
    if device.type == "cuda":
        chosen = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    elif device.type == "cpu":
        chosen = "bf16" if _cpu_has_native_bf16() else "fp32"
    else:
        chosen = "fp32"
    _log_auto_choice(device.type, chosen)
    return chosen


@functools.cache
def _warn_slow_half_precision(precision: str) -> None:
    """Once per precision and process: a batch of images calls resolve_precision for each of them."""
    log.warning("precision %s on a CPU without native bf16 falls back to slow kernels (measured about 40x slower "
                "than fp32 on an AVX2 CPU); fp32 or auto is faster here", precision)


@functools.cache
def _log_auto_choice(device_type: str, chosen: str) -> None:
    reason = {"cpu": "native bf16 (AMX or AVX512-BF16)" if chosen == "bf16" else "no native bf16 on this CPU",
              "cuda": "bf16 supported" if chosen == "bf16" else "no bf16 on this GPU"}.get(device_type, "")
    log.info("precision auto on %s: %s%s", device_type, chosen, f" ({reason})" if reason else "")


# CPU features that compute bf16 matrix products in hardware (Sapphire Rapids' AMX, Cooper Lake's and Zen 4's
# AVX512-BF16), named alike by /proc/cpuinfo and torch.cpu.get_capabilities. oneDNN's own check
# (torch.ops.mkldnn._is_mkldnn_bf16_supported) also accepts plain AVX512, which only emulates bf16.
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux), empty where that file does not exist."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as file:
            for line in file:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def torch_cpu_capabilities() -> dict | None:
    """The CPU's features as torch's cpuinfo library sees them, on every OS; None where this torch cannot say
    (torch.cpu.get_capabilities is recent: older torch falls back to /proc/cpuinfo, so to fp32 off Linux)."""
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if get_capabilities is None:
        return None
    try:
        return dict(get_capabilities())
    except Exception as error:  # noqa: BLE001 - a failed probe must only cost the bf16 choice, never the run
        log.debug("torch.cpu.get_capabilities failed (%s); reading /proc/cpuinfo instead", error)
        return None


@functools.cache
def _cpu_has_native_bf16() -> bool:
    """True where this CPU has AMX-BF16 or AVX512-BF16: asked of torch (Linux, Windows, macOS) where it can say,
    else read from /proc/cpuinfo (Linux; elsewhere False, and fp32 stays)."""
    capabilities = torch_cpu_capabilities()
    if capabilities is not None:
        return any(bool(capabilities.get(flag)) for flag in NATIVE_BF16_FLAGS)
    return any(flag in cpu_flags() for flag in NATIVE_BF16_FLAGS)


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """An autocast context for a concrete precision ('fp32' gives a no-op)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=autocast_dtype(precision))


def stylenet_autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The context StyleNet's training passes run in: autocast for bf16, nothing for fp32 and fp16.

    In bf16 StyleNet's convolutions at full resolution are a large part of a step (at 512 px on a 2-core
    AVX512-BF16 CPU its forward and backward took 0.48 s in bf16 against 1.04 s in float32), and bf16 has float32's
    range, so nothing overflows. fp16's narrower range was never measured on StyleNet's activations, so fp16 keeps
    StyleNet in float32 as before. Its parameters and Adam stay float32 either way; the final image is computed
    afterwards in float32.
    """
    return autocast(precision, device) if precision == "bf16" else contextlib.nullcontext()


def grad_scaler(precision: str, device: torch.device | str) -> torch.amp.GradScaler:
    """Loss scaling for fp16; disabled (a pass-through) for the other precisions.

    It starts at 1, not at GradScaler's 2**16: CLIPstyler's loss is already large (lambda_patch 9000), and 2**16
    times it overflows fp16, so the first ten or so steps of a run would be skipped while the scale came down.
    The reference runs CLIP in fp16 without any scaling; the scaler still halves the scale (and skips the step) if a
    gradient ever overflows, and grows it again after a long run without overflow.
    """
    return torch.amp.GradScaler(torch.device(device).type, init_scale=1.0, enabled=precision == "fp16")
