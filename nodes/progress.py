"""Progress, live previews and cancel for the optimisation, in ComfyUI's terms."""

from __future__ import annotations

import logging

from ..clipstyler.image_io import to_pil
from ..clipstyler.optimize import StepReport
from .comfy import ProgressBar, model_management
from .loss_curve import LossCurveMessages

log = logging.getLogger("clipstyler")
PREVIEW_MAX_SIDE = 512


class OptimizeProgress:
    """A per-step callback: cancel check every step, progress every step, a preview every `preview_every` steps.

    Reading losses and making a preview sync the device, so both happen only at preview steps; the losses of the
    steps between are kept on the device and go to the node's loss curve with the preview (nodes/loss_curve.py).
    """

    def __init__(self, steps_per_run: int, runs: int, preview_every: int, node_id: str | None = None) -> None:
        self.steps_per_run, self.total = steps_per_run, steps_per_run * runs
        self.preview_every = preview_every
        self.bar = ProgressBar(self.total, node_id=node_id)
        self.curve = LossCurveMessages(node_id, steps_per_run, runs) if preview_every > 0 else None

    def __call__(self, report: StepReport) -> None:
        model_management.throw_exception_if_processing_interrupted()
        if self.curve is not None:
            self.curve.record(report)
        done = report.run * self.steps_per_run + report.step
        preview = None
        last = report.step == report.steps
        if self.preview_every > 0 and (report.step % self.preview_every == 0 or last or report.step == 1):
            preview = ("JPEG", to_pil(report.image[0]), PREVIEW_MAX_SIDE)
            losses = ", ".join(f"{name} {float(value):.4g}" for name, value in report.losses.items())
            log.info("CLIPstyler image %d/%d step %d/%d: %s", report.run + 1, report.runs, report.step, report.steps,
                     losses)
        self.bar.update_absolute(done, self.total, preview)
        if preview is not None and self.curve is not None:
            self.curve.send(final=last and report.run == report.runs - 1)
