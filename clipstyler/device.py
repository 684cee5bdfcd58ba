"""Which device to compute on: a name or torch.device checked up front, so a typo or a missing GPU is one clear
error before any work, not a CUDA traceback in the middle of it."""

from __future__ import annotations

import functools
import logging
import os

import torch

from .errors import CLIPstylerError

_USE_INSTEAD = "use cpu, cuda, cuda:N or mps"
# torch reads it when it starts: with it, an op the MPS backend lacks runs on the CPU (torch warns once per op, naming
# it) instead of raising NotImplementedError. The command line sets it before importing torch.
MPS_FALLBACK = "PYTORCH_ENABLE_MPS_FALLBACK"

log = logging.getLogger(__name__)


def default_device() -> str:
    """cuda where a GPU is usable, else mps on Apple silicon, else cpu."""
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_device(device: torch.device | str) -> torch.device:
    """device as a torch.device that this machine has, or a CLIPstylerError saying what to use instead.

    CUDA and MPS are checked for; other device types torch knows (xpu, ...) are passed through for torch to use.
    """
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise CLIPstylerError(f"unknown device {device!r}: {_USE_INSTEAD}") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "built without CUDA"
            raise CLIPstylerError(
                f"device {str(device)!r}: no CUDA GPU is usable here (torch {torch.__version__}, {build}); "
                "use cpu, or install a CUDA build of torch on a machine with an NVIDIA GPU and driver"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise CLIPstylerError(
                f"device {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise CLIPstylerError("device 'mps': Apple's Metal backend is not available here (it needs an Apple "
                                  "silicon Mac and a torch with MPS); use cpu, or cuda where there is an NVIDIA GPU")
        _warn_without_mps_fallback(os.environ.get(MPS_FALLBACK, ""))
    return device


@functools.cache
def _warn_without_mps_fallback(setting: str) -> None:
    if setting != "1":
        log.warning("device mps: if torch lacks an op on MPS it raises NotImplementedError; start Python with %s=1 "
                    "so such ops run on the CPU instead (the clipstyler command sets it for you)", MPS_FALLBACK)
