"""Optional torch.compile of the models a step runs (StyleSettings.torch_compile), off wherever it fails.

On the 2-core CPU measured it costs about a minute of compiling and then saves only 1-4 % per step
(bench/RESULTS.md, `python -m bench.step_ab torch_compile`), so it is off by default; it is there for GPUs and long
runs, to measure there. A compile can fail for reasons outside our control (no C++
compiler, an unsupported op, an old GPU): the first call with each new input shape therefore runs the compiled
function forward and backward on a copy of the input, and any failure there logs a warning and switches that model
to eager mode for good. The backward is part of the trial because torch.compile only compiles it at the first
backward, which would otherwise fail in the middle of a step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)


def _tensors(output) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    return [t for t in output if isinstance(t, torch.Tensor)]


class CompiledOrEager:
    """Call `function` (a module or a bound method of one) through torch.compile, falling back to eager on failure.

    Args:
        function: what to compile; its owner's parameters that need gradients are included in the trial backward.
        name: shown in the warning if compiling fails.
    """

    def __init__(self, function: Callable, name: str) -> None:
        self.function = function
        self.name = name
        self.failed = False
        self._compiled = torch.compile(function)
        self._tried: set[tuple] = set()
        owner = getattr(function, "__self__", function)
        self._parameters = list(owner.parameters()) if isinstance(owner, nn.Module) else []

    def __call__(self, x: torch.Tensor):
        if self.failed:
            return self.function(x)
        autocasting = torch.is_autocast_enabled(x.device.type)
        key = (tuple(x.shape), x.dtype, x.device, x.requires_grad, torch.is_grad_enabled(), autocasting)
        if key not in self._tried:
            try:
                self._trial(x)
            except torch.OutOfMemoryError:
                raise
            except Exception as error:  # noqa: BLE001 - any compiler or toolchain failure means: run eagerly
                log.warning("torch.compile failed for %s, running it without compiling: %s", self.name, error)
                self.failed = True
                return self.function(x)
            self._tried.add(key)
        return self._compiled(x)

    def _trial(self, x: torch.Tensor) -> None:
        """Compile for this input's shape, forward and (where gradients flow) backward, on a detached copy."""
        trial_input = x.detach().clone().requires_grad_(x.requires_grad)
        outputs = [t for t in _tensors(self._compiled(trial_input)) if t.requires_grad]
        leaves = ([trial_input] if trial_input.requires_grad else []) + [
            p for p in self._parameters if p.requires_grad
        ]
        if outputs and leaves:
            # autograd.grad, not backward: nothing is accumulated into the parameters' .grad
            torch.autograd.grad(outputs, leaves, [torch.ones_like(t) for t in outputs], allow_unused=True)


def maybe_compiled(function: Callable, enabled: bool, name: str) -> Callable:
    """function itself, or a CompiledOrEager of it when enabled."""
    return CompiledOrEager(function, name) if enabled else function
