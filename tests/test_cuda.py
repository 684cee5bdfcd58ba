"""The library on a CUDA GPU: the same numbers as the CPU in fp32, auto precision, no host syncs in the loop, both
kinds of net applied. Skipped where there is no CUDA GPU; `python -m bench gpu` runs the suite on one."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

from clipstyler.adain import FastStyleNet
from clipstyler.apply import apply_stylenet
from clipstyler.fast_settings import FastSettings
from clipstyler.fast_train import train_fast_stylenet
from clipstyler.optimize import train_stylenet
from clipstyler.settings import StyleSettings
from clipstyler.stylenet import build_stylenet

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SETTINGS = {"size": 64, "crop_size": 32, "num_crops": 8, "crop_batch": 4}


@pytest.fixture
def cuda_models(clip, vgg):
    """Copies on the GPU: the session's CPU models stay where the other tests expect them."""
    return copy.deepcopy(clip).to("cuda"), copy.deepcopy(vgg).to("cuda")


def content(seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def test_fp32_steps_on_cuda_give_the_cpus_losses_and_weights(clip, vgg, target, cuda_models):
    settings = StyleSettings(steps=3, precision="fp32", **SETTINGS)
    cpu_net, cpu_losses = train_stylenet(content(), clip, vgg, target, settings, "cpu")
    gpu_net, gpu_losses = train_stylenet(content(), *cuda_models, target, settings, "cuda")
    for name, value in cpu_losses.items():
        assert gpu_losses[name].item() == pytest.approx(value.item(), rel=1e-3, abs=1e-5), name
    for name, weight in cpu_net.state_dict().items():
        torch.testing.assert_close(gpu_net.state_dict()[name].cpu(), weight, rtol=1e-3, atol=1e-4)


def test_auto_precision_on_cuda_trains_in_half_precision(target, cuda_models):
    settings = StyleSettings(steps=3, precision="auto", **SETTINGS)
    net, losses = train_stylenet(content(), *cuda_models, target, settings, "cuda")
    assert all(torch.isfinite(value) for value in losses.values())
    start = build_stylenet(settings.ngf, settings.seed).state_dict()
    assert any(not torch.equal(net.state_dict()[name].cpu(), start[name]) for name in start)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_steady_state_steps_do_not_wait_for_the_gpu(target, cuda_models, precision):
    """After the first step, a step queues its work without reading anything back (fp16's loss scaler must read
    whether gradients overflowed, so it is not in this list)."""
    def watch(report):
        if report.step == 1:
            torch.cuda.set_sync_debug_mode("warn")
            warnings.simplefilter("always")

    settings = StyleSettings(steps=4, precision=precision, **SETTINGS)
    with warnings.catch_warnings(record=True) as caught:
        try:
            train_stylenet(content(), *cuda_models, target, settings, "cuda", callback=watch)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message).lower()]
    assert syncs == [], syncs[:3]


@pytest.mark.parametrize("net", [build_stylenet(seed=0), FastStyleNet()], ids=["unet", "adain"])
def test_apply_on_cuda_matches_the_cpu(net):
    frames = torch.rand(3, 3, 40, 56, generator=torch.Generator().manual_seed(1))
    on_cpu = apply_stylenet(net, frames, "cpu", precision="fp32")
    on_gpu = apply_stylenet(net, frames, "cuda", precision="fp32")
    assert on_gpu.device.type == "cpu" and on_gpu.shape == frames.shape
    torch.testing.assert_close(on_gpu, on_cpu, rtol=1e-3, atol=2e-4)


def test_fast_training_runs_on_cuda(clip, target):
    frames = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    settings = FastSettings(steps=2, batch_size=2, crop_size=32, num_views=2, precision="auto")
    net, losses = train_fast_stylenet(frames, copy.deepcopy(clip).to("cuda"), target, FastStyleNet(), settings,
                                      "cuda")
    assert all(torch.isfinite(torch.tensor(value)) for value in losses.values())
    assert next(net.parameters()).device.type == "cpu"
