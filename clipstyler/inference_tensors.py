"""Making tensors created under torch.inference_mode usable in a graph that autograd records.

ComfyUI runs every node under inference_mode, so a CLIP loaded by one node has "inference tensors" as weights,
and autograd refuses to save those for backward. Frozen models only need ordinary tensors, not gradients.
"""

from __future__ import annotations

import torch
from torch import nn


def usable_in_autograd(tensor: torch.Tensor) -> torch.Tensor:
    """tensor itself, or an ordinary copy if it was made in inference mode. Call outside inference mode."""
    return tensor.clone() if tensor.is_inference() else tensor


def prepare_for_autograd(module: nn.Module) -> nn.Module:
    """Replace, in place, any inference-mode parameters and buffers of module by ordinary copies; returns module."""
    with torch.inference_mode(False):
        for submodule in module.modules():
            for name, parameter in submodule._parameters.items():
                if parameter is not None and parameter.is_inference():
                    submodule._parameters[name] = nn.Parameter(parameter.clone(), parameter.requires_grad)
            for name, buffer in submodule._buffers.items():
                if buffer is not None and buffer.is_inference():
                    submodule._buffers[name] = buffer.clone()
    return module
