"""The loss curve in the node: each step's losses, sent to the pack's front end (web/loss_curve.js) with the preview.

Every step's losses are recorded as device tensors (no sync); at a preview step the new ones are read in one go and
sent as one "clipstyler.losses" message to the front end that queued the prompt:

    {"node": "7", "prompt_id": "...", "run": 0, "runs": 1, "steps": 200, "start": true, "final": false,
     "points": [{"run": 0, "step": 1, "losses": {"total": 812.5, "patch": 0.08, ...}}, ...]}

`node` is the node's id in the prompt (as in ComfyUI's progress messages), `run` the image being trained in
per-image mode (0-based; `runs` of them, `steps` each), `start` marks an execution's first message (the front end
clears the node's old curve) and `final` its last. Values that JSON cannot carry (NaN, infinity) are null.
"""

from __future__ import annotations

from ..clipstyler.loss_history import LossHistory, json_safe
from ..clipstyler.optimize import StepReport
from .comfy import executing_prompt_id, send_to_front_end

EVENT = "clipstyler.losses"


class LossCurveMessages:
    """Records every step's losses; `send` sends the points recorded since the last message."""

    def __init__(self, node_id: str | None, steps_per_run: int, runs: int) -> None:
        self.node_id, self.steps_per_run, self.runs = node_id, steps_per_run, runs
        self.history = LossHistory()
        self.started = False

    def record(self, report: StepReport) -> None:
        self.history.record(report)

    def send(self, final: bool = False) -> dict | None:
        """Send the new points (one device sync); returns the message, or None when there was none to send."""
        points = self.history.read()
        if not points or self.node_id is None:  # no node to show it on (called outside ComfyUI's executor)
            return None
        message = {
            "node": self.node_id,
            "prompt_id": executing_prompt_id(),
            "run": points[-1].run,
            "runs": self.runs,
            "steps": self.steps_per_run,
            "start": not self.started,
            "final": final,
            "points": [{"run": p.run, "step": p.step, "losses": json_safe(p.losses)} for p in points],
        }
        self.started = True
        send_to_front_end(EVENT, message)
        return message
