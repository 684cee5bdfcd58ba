"""The pack's models in ComfyUI's memory management: on the compute device for one job only.

CLIP, VGG and StyleNets wait on ComfyUI's offload device (the CPU, unless --highvram or --gpu-only keep models on
the GPU). For a job they are moved to ComfyUI's compute device (the CPU under --cpu) after ComfyUI has been asked to
free room for them and the job's working memory, unloading other models as needed; afterwards, also when the job
fails or is cancelled, they go back and the allocator's cache is emptied. This is what core's upscale node does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from .comfy import model_management

LOW_VRAM_CLIP_BATCH = 4  # patches per CLIP pass under --lowvram/--novram: the same gradient (to rounding), less memory


def offload_device() -> torch.device:
    return model_management.unet_offload_device()


def is_low_vram() -> bool:
    return model_management.vram_state in (model_management.VRAMState.LOW_VRAM, model_management.VRAMState.NO_VRAM)


def _move(models: tuple[nn.Module, ...], device: torch.device) -> None:
    # Outside inference mode: a .to() inside it (every node runs inside it) would make inference tensors.
    with torch.inference_mode(False):
        for model in models:
            model.to(device)


@contextlib.contextmanager
def on_compute_device(*models: nn.Module, working_bytes: int = 0) -> Iterator[torch.device]:
    """Move models to ComfyUI's compute device for the block, after freeing room; yields the device."""
    device = model_management.get_torch_device()
    weights = sum(model_management.module_size(model) for model in models)
    model_management.free_memory(weights + working_bytes, device)
    try:
        _move(models, device)
        yield device
    finally:
        _move(models, offload_device())
        model_management.soft_empty_cache()
