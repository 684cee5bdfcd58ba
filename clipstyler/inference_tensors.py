"""Making tensors created under torch.inference_mode usable in a graph that autograd records.

ComfyUI runs every node under inference_mode, so an image or a text direction made by one node is an "inference
tensor", which autograd refuses to save for backward. Models need no such care: the loaders create their weights
outside inference mode (clip/loading.py, vgg.py), and the nodes move them between devices outside it.
"""

from __future__ import annotations

import torch


def usable_in_autograd(tensor: torch.Tensor) -> torch.Tensor:
    """tensor itself, or an ordinary copy if it was made in inference mode. Call outside inference mode."""
    return tensor.clone() if tensor.is_inference() else tensor
