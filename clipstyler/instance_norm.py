"""StyleNet's instance normalisation: torch's numbers, kept in channels_last (NHWC) for a single image.

torch's instance_norm folds the batch into the channels and runs batch norm on a (1, N * C, H, W) view. That view
needs NCHW memory, so a channels_last input is copied to NCHW before every norm and the next convolution copies the
result back: in a channels_last StyleNet those copies cost more than NHWC saves (bench/PROFILE.md).

For one image (N = 1) instance norm's statistics are batch norm's in training mode, so this calls batch norm
directly: in NCHW the very kernel instance_norm runs (identical numbers), in NHWC a kernel that keeps the layout.
It also avoids a torch bug (2.14, CPU): with N = 1, instance_norm returns a wrong input gradient when the gradient
that reaches it is channels_last, as it is once the layers around it keep NHWC (tests/clipstyler/test_instance_norm.py).
Batches of more than one image go through torch's own path, whose reshape copies that gradient to NCHW.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InstanceNorm2d(nn.InstanceNorm2d):
    """nn.InstanceNorm2d (same arguments, state and results) with a one-image path through batch norm.

    Shape:
        (N, C, H, W) -> (N, C, H, W), in the input's memory format when N = 1.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        plain = not self.affine and not self.track_running_stats  # StyleNet's: no weights, no running statistics
        if plain and input.dim() == 4 and input.shape[0] == 1:
            return F.batch_norm(input, None, None, training=True, eps=self.eps)
        return super().forward(input)
