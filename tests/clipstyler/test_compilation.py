import logging

import pytest
import torch
from torch import nn

import clipstyler.compilation as compilation
from clipstyler.compilation import CompiledOrEager, maybe_compiled
from clipstyler.optimize import train_stylenet
from clipstyler.settings import StyleSettings


class FailingBackward(torch.autograd.Function):
    """Stands in for a compiled graph whose backward fails to compile (torch.compile compiles it lazily)."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("backward compiler exploded")


def fake_compile(monkeypatch, compiled):
    monkeypatch.setattr(compilation.torch, "compile", lambda function: compiled)


def test_disabled_returns_the_function_itself():
    module = nn.Linear(2, 2)
    assert maybe_compiled(module, False, "linear") is module
    assert isinstance(maybe_compiled(module, True, "linear"), CompiledOrEager)


def test_forward_compile_failure_falls_back_to_eager_with_a_warning(monkeypatch, caplog):
    def broken(x):
        raise RuntimeError("no C++ compiler found")

    fake_compile(monkeypatch, broken)
    module = nn.Linear(3, 2)
    wrapped = CompiledOrEager(module, "the test module")
    x = torch.randn(4, 3)
    with caplog.at_level(logging.WARNING):
        out = wrapped(x)
    torch.testing.assert_close(out, module(x))
    assert wrapped.failed
    assert "the test module" in caplog.text and "no C++ compiler found" in caplog.text


def test_backward_compile_failure_is_caught_in_the_trial(monkeypatch):
    fake_compile(monkeypatch, FailingBackward.apply)
    wrapped = CompiledOrEager(lambda x: x * 2, "doubler")
    x = torch.randn(3, requires_grad=True)
    out = wrapped(x)
    assert wrapped.failed
    out.sum().backward()  # the eager function's backward, not the failing one
    torch.testing.assert_close(x.grad, torch.full((3,), 2.0))


def test_trial_leaves_no_gradients_behind_and_runs_once_per_shape(monkeypatch):
    calls = []
    module = nn.Linear(3, 2)

    def counting(x):
        calls.append(tuple(x.shape))
        return module(x)

    fake_compile(monkeypatch, counting)
    wrapped = CompiledOrEager(module, "linear")
    for batch in (4, 4, 5):
        wrapped(torch.randn(batch, 3))
    assert module.weight.grad is None  # the trial's backward used autograd.grad, not .backward
    assert calls == [(4, 3), (4, 3), (4, 3), (5, 3), (5, 3)]  # trial + call for a new shape, call alone after
    assert not wrapped.failed


def test_out_of_memory_is_not_mistaken_for_a_compile_failure(monkeypatch):
    def out_of_memory(x):
        raise torch.OutOfMemoryError("out of memory")

    fake_compile(monkeypatch, out_of_memory)
    with pytest.raises(torch.OutOfMemoryError):
        CompiledOrEager(nn.Linear(2, 2), "linear")(torch.randn(1, 2))


def two_steps(clip, vgg, target, **options) -> list[float]:
    settings = StyleSettings(steps=2, size=64, crop_size=32, num_crops=4, crop_batch=2, **options)
    losses = []
    train_stylenet(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)), clip, vgg, target,
                   settings, "cpu", callback=lambda r: losses.append(float(r.losses["total"])))
    return losses


@pytest.mark.parametrize("option", ["channels_last", "torch_compile"])
def test_the_loop_runs_with_each_speed_option(clip, vgg, target, option, caplog):
    """Same losses as the default loop (gradients are compared in test_objective.py; Adam's first steps move each
    weight by about lr * sign(gradient), so weights are not a fair comparison)."""
    with caplog.at_level(logging.WARNING):
        losses = two_steps(clip, vgg, target, **{option: True})
    assert "torch.compile failed" not in caplog.text
    assert losses == pytest.approx(two_steps(clip, vgg, target), rel=1e-4)
