"""The loss curve messages the trainers' progress callback sends to the front end (nodes/loss_curve.py), through a
recording stand-in for ComfyUI's PromptServer (a unit test: tests/test_comfyui_live.py and
tests/test_frontend_live.py check them with a real server and front end)."""

import importlib
import json
import math
import sys
import types

import comfy_env
import pytest
import torch

comfy_env.require_comfyui()
comfy_env.load_pack()

progress_module = importlib.import_module(f"{comfy_env.PACK_MODULE}.nodes.progress")
loss_curve = importlib.import_module(f"{comfy_env.PACK_MODULE}.nodes.loss_curve")
StepReport = importlib.import_module(f"{comfy_env.PACK_MODULE}.clipstyler.optimize").StepReport


class RecordingServer:
    def __init__(self, client_id):
        self.client_id, self.last_prompt_id, self.sent = client_id, "prompt-1", []

    def send_sync(self, event, data, sid=None):
        self.sent.append((event, json.loads(json.dumps(data, allow_nan=False)), sid))  # as JSON reaches a browser


@pytest.fixture
def server(monkeypatch):
    """ComfyUI's `server` module as main.py leaves it, with a PromptServer instance that records what it sends."""
    recording = RecordingServer("client-1")
    module = types.ModuleType("server")
    module.PromptServer = type("PromptServer", (), {"instance": recording})
    monkeypatch.setitem(sys.modules, "server", module)
    return recording


def feed(progress, steps, runs, value=lambda run, step: 10.0 * (run + 1) / step):
    for run in range(runs):
        for step in range(1, steps + 1):
            losses = {"total": torch.tensor(value(run, step)), "patch": torch.tensor(0.5), "tv": torch.tensor(2.0)}
            progress(StepReport(step, steps, run, runs, losses, torch.rand(1, 3, 8, 8), 1e-3))


def test_each_preview_sends_the_points_since_the_last_one(server):
    feed(progress_module.OptimizeProgress(5, 2, preview_every=3, node_id="7"), steps=5, runs=2)
    events = {event for event, _, _ in server.sent}
    assert events == {"clipstyler.losses"} and {sid for *_, sid in server.sent} == {"client-1"}
    messages = [data for _, data, _ in server.sent]
    # Previews at steps 1, 3 and 5 of each image: every step's losses arrive, each once, in order.
    assert [[(p["run"], p["step"]) for p in m["points"]] for m in messages] == [
        [(0, 1)], [(0, 2), (0, 3)], [(0, 4), (0, 5)], [(1, 1)], [(1, 2), (1, 3)], [(1, 4), (1, 5)]]
    assert [m["run"] for m in messages] == [0, 0, 0, 1, 1, 1]
    assert [m["start"] for m in messages] == [True] + [False] * 5
    assert [m["final"] for m in messages] == [False] * 5 + [True]
    assert {(m["node"], m["prompt_id"], m["runs"], m["steps"]) for m in messages} == {("7", "prompt-1", 2, 5)}
    second = messages[1]["points"][1]["losses"]
    assert second == {"total": pytest.approx(10.0 / 3), "patch": 0.5, "tv": 2.0}


def test_values_json_cannot_carry_are_null(server):
    feed(progress_module.OptimizeProgress(2, 1, preview_every=1, node_id="3"), steps=2, runs=1,
         value=lambda run, step: math.nan if step == 1 else math.inf)
    assert [m["points"][0]["losses"]["total"] for _, m, _ in server.sent] == [None, None]


def test_no_messages_without_previews_or_without_a_front_end(server, monkeypatch):
    feed(progress_module.OptimizeProgress(3, 1, preview_every=0, node_id="7"), steps=3, runs=1)
    assert server.sent == []  # preview_every 0: no preview, no log, no curve
    server.client_id = None  # a prompt queued by a script without a client id: no front end waits for it
    feed(progress_module.OptimizeProgress(3, 1, preview_every=1, node_id="7"), steps=3, runs=1)
    assert server.sent == []
    monkeypatch.delitem(sys.modules, "server")  # not a ComfyUI server (these tests, tools): nothing to send through
    curve = loss_curve.LossCurveMessages("7", 3, 1)
    curve.record(StepReport(1, 3, 0, 1, {"total": torch.tensor(1.0)}, torch.rand(1, 3, 8, 8), 1e-3))
    message = curve.send()
    assert message["points"] == [{"run": 0, "step": 1, "losses": {"total": 1.0}}] and message["prompt_id"] is None
