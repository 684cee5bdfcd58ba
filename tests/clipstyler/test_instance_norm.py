"""StyleNet's InstanceNorm2d: the instance-norm formula in every layout, torch's own numbers in NCHW."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from clipstyler.instance_norm import InstanceNorm2d

NCHW, NHWC = torch.contiguous_format, torch.channels_last


def by_hand(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(x - mean) / sqrt(biased variance + eps) over each image's channel."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    variance = x.var(dim=(2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(variance + eps)


def output_and_input_gradient(norm, x: torch.Tensor, gradient: torch.Tensor, layout, gradient_layout):
    x = x.float().contiguous(memory_format=layout).requires_grad_(True)
    out = norm(x)
    out.backward(gradient.float().contiguous(memory_format=gradient_layout))
    return out, x.grad


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("layout", [NCHW, NHWC])
@pytest.mark.parametrize("gradient_layout", [NCHW, NHWC])
def test_output_and_input_gradient_follow_the_formula_in_every_layout(batch, layout, gradient_layout):
    torch.manual_seed(0)
    x, gradient = torch.randn(batch, 6, 9, 7, dtype=torch.float64), torch.randn(batch, 6, 9, 7, dtype=torch.float64)
    exact = x.clone().requires_grad_(True)
    by_hand(exact).backward(gradient)
    out, grad = output_and_input_gradient(InstanceNorm2d(6), x, gradient, layout, gradient_layout)
    assert torch.allclose(out.double(), by_hand(x), atol=1e-5)
    assert torch.allclose(grad.double(), exact.grad, atol=1e-4 * exact.grad.abs().max())


def test_one_nchw_image_gives_torchs_numbers_bit_for_bit():
    torch.manual_seed(0)
    x, gradient = torch.randn(1, 16, 32, 32), torch.randn(1, 16, 32, 32)
    ours = output_and_input_gradient(InstanceNorm2d(16), x, gradient, NCHW, NCHW)
    torchs = output_and_input_gradient(nn.InstanceNorm2d(16), x, gradient, NCHW, NCHW)
    assert all(torch.equal(a, b) for a, b in zip(ours, torchs))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_one_nhwc_image_stays_nhwc_in_its_dtype(dtype):
    x = torch.randn(1, 16, 8, 8, dtype=dtype).contiguous(memory_format=NHWC)
    out = InstanceNorm2d(16)(x)
    assert out.dtype == dtype and out.is_contiguous(memory_format=NHWC) and not out.is_contiguous()


def test_state_and_options_are_torchs():
    ours, torchs = InstanceNorm2d(16), nn.InstanceNorm2d(16)
    assert isinstance(ours, nn.InstanceNorm2d) and ours.state_dict().keys() == torchs.state_dict().keys()
    affine = InstanceNorm2d(4, affine=True)  # not StyleNet's: torch's own path, its weights applied
    with torch.no_grad():
        affine.weight.fill_(2.0)
    x = torch.randn(1, 4, 5, 5)
    assert torch.allclose(affine(x), 2 * F.instance_norm(x), atol=1e-6)
