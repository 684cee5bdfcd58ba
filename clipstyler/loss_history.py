"""Every step's losses, for a loss curve: the total and each term, per run, in step order.

The optimisation hands each step's losses over as device tensors (StepReport). Reading one (.item(), float())
waits for the device, and doing that every step would stall a GPU's queue of work. So the history keeps the
tensors as they come and reads them all at once when asked (`read`), at most every `max_pending` steps: one
wait for many steps, for any number of terms. Terms are whatever the losses hold ("total", "patch", "dir",
"content", "tv", and any term added later), listed in the order they first appear.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

# Read pending tensors once this many steps wait: bounds the memory held on the device (5 scalars a step).
MAX_PENDING = 256


class StepLosses(Protocol):
    """What a history records: clipstyler.optimize.StepReport is one."""

    step: int
    steps: int
    run: int
    losses: Mapping[str, torch.Tensor | float]


@dataclass(frozen=True)
class LossPoint:
    """One step's losses as numbers. run is 0-based (the image, in per-image mode); step is 1-based in its run."""

    run: int
    step: int
    steps: int  # steps per run
    losses: dict[str, float]

    @property
    def position(self) -> int:
        """The step counted over all runs in turn (1-based): where the point goes on a curve of every run."""
        return self.run * self.steps + self.step


class LossHistory:
    """Records StepReports (call it, or `record`) and gives their losses as LossPoints, oldest first.

    It is a StepCallback, so `stylize(..., callback=LossHistory())` collects a whole run; to show progress as
    well, call `record(report)` from your own callback.
    """

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self.max_pending = max_pending
        self._pending: list[tuple[int, int, int, dict[str, torch.Tensor | float]]] = []
        self._points: list[LossPoint] = []
        self._unread_from = 0  # index into _points of the first point `read` has not returned yet

    def record(self, report: StepLosses) -> None:
        """Keep this step's losses; no device sync (unless max_pending steps are waiting)."""
        losses = {name: value.detach() if isinstance(value, torch.Tensor) else float(value)
                  for name, value in report.losses.items()}
        self._pending.append((report.run, report.step, report.steps, losses))
        if len(self._pending) >= self.max_pending:
            self._resolve()

    __call__ = record

    def read(self) -> list[LossPoint]:
        """The points recorded since the last read, as numbers (one device sync for all of them)."""
        self._resolve()
        new = self._points[self._unread_from:]
        self._unread_from = len(self._points)
        return new

    @property
    def points(self) -> list[LossPoint]:
        """Every point recorded so far, oldest first (reads any pending ones; does not change what `read` returns)."""
        self._resolve()
        return list(self._points)

    def names(self) -> list[str]:
        """The terms in the order they first appear ("total" first when present)."""
        return term_names(self.points)

    def series(self, name: str) -> tuple[list[int], list[float]]:
        """(positions, values) of one term over every point that has it."""
        chosen = [point for point in self.points if name in point.losses]
        return [point.position for point in chosen], [point.losses[name] for point in chosen]

    def __len__(self) -> int:
        return len(self._points) + len(self._pending)

    def _resolve(self) -> None:
        if not self._pending:
            return
        values = _as_floats([value for *_, losses in self._pending for value in losses.values()])
        start = 0
        for run, step, steps, losses in self._pending:
            numbers = values[start:start + len(losses)]
            start += len(losses)
            self._points.append(LossPoint(run, step, steps, dict(zip(losses, numbers))))
        self._pending.clear()


def _as_floats(values: Sequence[torch.Tensor | float]) -> list[float]:
    """Python floats of scalar tensors and numbers, in order: one stacked copy per device, so one sync each."""
    result: list[float] = [math.nan] * len(values)
    by_device: dict[torch.device, list[int]] = {}
    for index, value in enumerate(values):
        if isinstance(value, torch.Tensor):
            by_device.setdefault(value.device, []).append(index)
        else:
            result[index] = float(value)
    for indices in by_device.values():
        stacked = torch.stack([values[i].float().reshape(()) for i in indices])
        for index, number in zip(indices, stacked.cpu().tolist()):
            result[index] = number
    return result


def term_names(points: Sequence[LossPoint]) -> list[str]:
    """The terms of points in the order they first appear, "total" first when present."""
    seen: dict[str, None] = {}
    for point in points:
        seen.update(dict.fromkeys(point.losses))
    return sorted(seen, key=lambda name: name != "total")  # a stable sort: the others keep their order


def json_safe(losses: Mapping[str, float]) -> dict[str, float | None]:
    """Losses for a JSON message: NaN and infinity become None (JSON has no such numbers; browsers reject them)."""
    return {name: value if math.isfinite(value) else None for name, value in losses.items()}
