import math
from types import SimpleNamespace

import pytest
import torch

from clipstyler import loss_history
from clipstyler.loss_history import LossHistory, json_safe
from clipstyler.objective import LOSS_NAMES
from clipstyler.optimize import stylize


def report(step, losses, run=0, steps=5):
    return SimpleNamespace(step=step, steps=steps, run=run, runs=2,
                           losses={name: torch.tensor(value) for name, value in losses.items()})


def test_collects_every_term_per_step_in_order():
    history = LossHistory()
    # Values exact in float32, as the losses are.
    history.record(report(1, {"total": 10.0, "patch": 0.5, "dir": 0.875}))
    history(report(2, {"total": 8.0, "patch": 0.25, "dir": 0.75}))  # a StepCallback too
    history.record(report(3, {"total": 6.0, "temporal": 0.125, "patch": 0.0, "dir": 0.625}))  # a term added later
    history.record(report(1, {"total": 9.0, "patch": 0.5, "dir": 0.5, "temporal": 0.5}, run=1))
    assert len(history) == 4
    assert [(p.run, p.step, p.position) for p in history.points] == [(0, 1, 1), (0, 2, 2), (0, 3, 3), (1, 1, 6)]
    assert history.points[2].losses == {"total": 6.0, "temporal": 0.125, "patch": 0.0, "dir": 0.625}
    assert history.names() == ["total", "patch", "dir", "temporal"]
    assert history.series("total") == ([1, 2, 3, 6], [10.0, 8.0, 6.0, 9.0])
    assert history.series("temporal") == ([3, 6], [0.125, 0.5])


def test_reads_the_device_values_in_one_batch_only_when_asked(monkeypatch):
    stacks = []
    real_stack = torch.stack
    monkeypatch.setattr(loss_history.torch, "stack", lambda tensors: stacks.append(len(tensors)) or
                        real_stack(tensors))
    history = LossHistory(max_pending=4)
    for step in range(1, 4):
        history.record(report(step, {"total": float(step), "tv": step / 10}))
    assert stacks == []  # recording reads nothing: no device sync per step
    new = history.read()
    assert stacks == [6]  # one stacked copy of the 3 steps' 2 terms
    assert [p.losses["tv"] for p in new] == pytest.approx([0.1, 0.2, 0.3])
    assert history.read() == []  # only what came since the last read
    for step in range(4, 9):  # the 4th waiting step triggers a read: the device memory held stays bounded
        history.record(report(step, {"total": float(step)}))
    assert stacks == [6, 4]
    assert [p.step for p in history.read()] == [4, 5, 6, 7, 8]
    assert [p.step for p in history.points] == list(range(1, 9))


def test_numbers_and_non_finite_values_and_json():
    history = LossHistory()
    history.record(SimpleNamespace(step=1, steps=1, run=0, losses={"total": 2, "dir": torch.tensor(math.nan),
                                                                    "tv": torch.tensor([math.inf])}))
    (point,) = history.read()
    assert point.losses["total"] == 2.0 and math.isnan(point.losses["dir"]) and point.losses["tv"] == math.inf
    assert json_safe(point.losses) == {"total": 2.0, "dir": None, "tv": None}
    with pytest.raises(ValueError, match="max_pending must be at least 1"):
        LossHistory(max_pending=0)


def test_records_a_real_optimisation(clip, vgg, target, small_settings):
    history = LossHistory()
    result = stylize(torch.rand(1, 3, 64, 64), clip, vgg, target, small_settings, callback=history)
    assert [p.step for p in history.points] == [1, 2, 3]
    assert history.names()[:len(LOSS_NAMES)] == list(LOSS_NAMES)
    assert history.points[-1].losses == pytest.approx(result.losses)  # the last step's losses, as returned
