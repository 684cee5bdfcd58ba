import logging

import pytest
import torch
from torch import nn

import clipstyler.compilation as compilation
import clipstyler.objective as objective
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
    # crop_batch 1: the global view and every chunk of crops reach CLIP as one input shape, so a single compile
    settings = StyleSettings(steps=2, size=64, crop_size=32, num_crops=4, crop_batch=1, **options)
    losses = []
    train_stylenet(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)), clip, vgg, target,
                   settings, "cpu", callback=lambda r: losses.append(float(r.losses["total"])))
    return losses


def test_channels_last_gives_the_same_losses(clip, vgg, target):
    """Same losses as the default loop (gradients are compared in test_objective.py; Adam's first steps move each
    weight by about lr * sign(gradient), so weights are not a fair comparison)."""
    assert two_steps(clip, vgg, target, channels_last=True) == pytest.approx(two_steps(clip, vgg, target), rel=1e-4)


def compiler_unavailable() -> str | None:
    """Why torch.compile cannot work on this machine at all (e.g. no C++ compiler for inductor), or None."""
    try:
        torch.compile(lambda x: x.sin() + 1)(torch.ones(3))
    except Exception as error:  # noqa: BLE001 - any failure means no compiler here
        return f"{type(error).__name__}: {error}"
    finally:
        torch._dynamo.reset()
    return None


def test_torch_compile_really_runs_compiled_and_gives_the_same_losses(clip, vgg, target, monkeypatch):
    """CompiledOrEager falls back to eager, with the same losses, if compiling fails: equal losses alone would pass
    then. So the compiled graph itself is counted: inductor, wrapped to count the calls of what it compiled."""
    reason = compiler_unavailable()
    if reason:
        pytest.skip(f"torch.compile does not work on this machine: {reason}")
    from torch._inductor.compile_fx import compile_fx

    graph_calls, wrappers = [], []

    def counting_inductor(graph, example_inputs):
        compiled = compile_fx(graph, example_inputs)

        def run(*args):
            graph_calls.append(1)
            return compiled(*args)

        run._boxed_call = getattr(compiled, "_boxed_call", False)  # the calling convention dynamo must use
        return run

    def recording(function, enabled, name):
        wrappers.append(real_maybe_compiled(function, enabled, name))
        return wrappers[-1]

    real_compile, real_maybe_compiled = torch.compile, objective.maybe_compiled
    monkeypatch.setattr(compilation.torch, "compile", lambda f: real_compile(f, backend=counting_inductor))
    monkeypatch.setattr(objective, "maybe_compiled", recording)
    torch._dynamo.reset()
    try:
        compiled_losses = two_steps(clip, vgg, target, torch_compile=True)
    finally:
        torch._dynamo.reset()
    (wrapper,) = wrappers
    assert isinstance(wrapper, CompiledOrEager) and not wrapper.failed
    # every CLIP call of the two steps ran compiled code: the global view and 4 chunks of one crop per step (the
    # trial's forward adds one more)
    assert len(graph_calls) >= 2 * (1 + 4)
    assert compiled_losses == pytest.approx(two_steps(clip, vgg, target), rel=1e-4)
