"""Gradient checks of the losses: the `dtype` fixture runs a test in float64 and in float32, `check_gradients` is
torch.autograd.gradcheck with the tolerances of that dtype.

float64 is what gradcheck needs (the losses keep float64 inputs in float64: clipstyler/losses/precision.py); float32,
with a wide step and tolerances, also checks the gradients of the dtype the library trains in.
"""

import pytest
import torch
from torch.autograd import gradcheck

FLOAT64 = pytest.param(torch.float64, id="float64")
FLOAT32 = pytest.param(torch.float32, id="float32",
                       marks=pytest.mark.filterwarnings(r"ignore:Input #\d+ requires gradient"))
TOLERANCES = {torch.float64: {}, torch.float32: {"eps": 1e-3, "atol": 1e-3, "rtol": 1e-2}}


@pytest.fixture(params=[FLOAT64, FLOAT32])
def dtype(request) -> torch.dtype:
    return request.param


@pytest.fixture
def check_gradients(dtype):
    """check_gradients(loss, inputs): gradcheck of loss with respect to every input, converted to dtype."""

    def check(loss, inputs):
        inputs = tuple(t.to(dtype).requires_grad_() for t in inputs)
        assert loss(*inputs).dtype == dtype, f"{dtype} inputs gave a {loss(*inputs).dtype} loss"
        assert gradcheck(loss, inputs, **TOLERANCES[dtype])

    return check
