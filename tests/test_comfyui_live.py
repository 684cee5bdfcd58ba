"""The pack inside a real ComfyUI server: node list, validation, each example workflow queued, progress and previews
per prompt, cancel, saving.

Needs a ComfyUI checkout: $COMFYUI_PATH or the development checkout (tests/comfy_env.py); skipped without one,
except in CI (CLIPSTYLER_REQUIRE_COMFYUI=1), where that fails. COMFYUI_PYTHON names the interpreter that has
ComfyUI's requirements (default: this one). The server runs on the CPU with its own temporary base directory: this
pack linked into custom_nodes, the tiny test CLIP and VGG in models, nothing downloaded.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import comfy_env
import numpy as np
import pytest
import torch
from PIL import Image
from tests_support import REPO

from clipstyler.adain import DECODER_FILENAME, ENCODER_FILENAME, build_decoder, full_normalised_vgg

OUR_NODES = {"CLIPstylerLoadCLIP", "CLIPstylerTextStyleTarget", "CLIPstylerStyleNetOptimize",
             "CLIPstylerFastStyleApply", "CLIPstylerSaveStyleNet", "CLIPstylerLoadStyleNet"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
# Small settings so a CPU run takes seconds; everything else comes from the workflow as saved.
SMALL = {"steps": 4, "size": 64, "crop_size": 32, "num_crops": 4, "preview_every": 1}
SMALL_FAST = {"steps": 4, "batch_size": 2, "crop_size": 32, "num_views": 2, "preview_every": 1}
SUBJECT = (32, 16, 64, 48)  # (left, top, right, bottom) of example.png's opaque part: a cut-out subject
TRAINERS = ("CLIPstylerStyleNetOptimize", "CLIPstylerTrainFastStyleNet")
WORKFLOWS = sorted(f for f in os.listdir(os.path.join(REPO, "example_workflows")) if f.endswith(".json"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Listener:
    """The websocket a front end holds: collects every JSON message and counts preview images, per prompt."""

    def __init__(self, url: str) -> None:
        self.client_id = uuid.uuid4().hex
        self.messages: list[dict] = []
        self.previews = 0
        self._url = url.replace("http://", "ws://") + f"/ws?clientId={self.client_id}"
        self._connected = threading.Event()
        threading.Thread(target=lambda: asyncio.run(self._listen()), daemon=True).start()
        assert self._connected.wait(30), "could not connect to ComfyUI's websocket"

    async def _listen(self) -> None:
        import aiohttp  # one of ComfyUI's own requirements

        async with aiohttp.ClientSession() as session, session.ws_connect(self._url) as ws:
            self._connected.set()
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self.messages.append(json.loads(message.data))
                elif message.type == aiohttp.WSMsgType.BINARY:
                    self.previews += 1

    def progress(self, prompt_id: str, node_id: str) -> list[tuple[int, int]]:
        """(value, max) of every progress message of this prompt's node."""
        return [(m["data"]["value"], m["data"]["max"]) for m in self.messages
                if m["type"] == "progress" and m["data"].get("prompt_id") == prompt_id
                and m["data"].get("node") == node_id]

    def loss_curve(self, prompt_id: str, node_id: str) -> list[dict]:
        """The "clipstyler.losses" messages of this prompt's node (nodes/loss_curve.py)."""
        return [m["data"] for m in self.messages if m["type"] == "clipstyler.losses"
                and m["data"].get("prompt_id") == prompt_id and m["data"].get("node") == node_id]


class Server:
    def __init__(self, base: str, port: int, log_path: str) -> None:
        self.base, self.url, self.log_path = base, f"http://127.0.0.1:{port}", log_path
        python = os.environ.get("COMFYUI_PYTHON", sys.executable)
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--base-directory", base],
            cwd=comfy_env.COMFYUI_PATH, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.listener: Listener | None = None

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def post(self, path: str, payload: dict):
        request = urllib.request.Request(self.url + path, json.dumps(payload).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
            return json.loads(body) if body else None

    def wait_ready(self, timeout: float = 180) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited:\n{self.logs()[-3000:]}")
            try:
                self.get("/object_info/LoadImage")
                self.listener = Listener(self.url)
                return
            except OSError:
                time.sleep(1)
        raise TimeoutError(f"ComfyUI did not start:\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        self.log.flush()
        return open(self.log_path).read()

    def queue(self, prompt: dict) -> str:
        return self.post("/prompt", {"prompt": prompt, "client_id": self.listener.client_id})["prompt_id"]

    def rejected(self, prompt: dict) -> dict:
        """The validation error of a prompt the server must refuse (HTTP 400)."""
        with pytest.raises(urllib.error.HTTPError) as error:
            self.queue(prompt)
        assert error.value.code == 400
        return json.loads(error.value.read())

    def run(self, prompt: dict, timeout: float = 600) -> tuple[str, dict]:
        prompt_id = self.queue(prompt)
        return prompt_id, self.wait(prompt_id, timeout)

    def wait(self, prompt_id: str, timeout: float = 600) -> dict:
        end = time.time() + timeout
        while time.time() < end:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                entry = history[prompt_id]
                if entry["status"]["status_str"] != "pending":
                    return entry
            time.sleep(0.5)
        raise TimeoutError(self.logs()[-3000:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_clip_file, vgg_file):
    comfy_env.require_comfyui()
    base = tmp_path_factory.mktemp("comfy_base")
    (base / "custom_nodes").mkdir()
    os.symlink(REPO, base / "custom_nodes" / "ComfyUI-CLIPstyler")
    for folder, source, name in (("clip", tiny_clip_file, "tiny_clip.safetensors"),
                                 ("vgg", vgg_file, "vgg19-dcbb9e9d.pth")):
        (base / "models" / folder).mkdir(parents=True)
        shutil.copy(source, base / "models" / folder / name)
    (base / "models" / "adain").mkdir()
    torch.manual_seed(0)  # AdaIN's two released files, random weights of the real layouts
    torch.save(full_normalised_vgg().state_dict(), base / "models" / "adain" / ENCODER_FILENAME)
    torch.save(build_decoder().state_dict(), base / "models" / "adain" / DECODER_FILENAME)
    (base / "input").mkdir()
    example = Image.new("RGBA", (96, 64), (30, 120, 200, 0))
    example.paste((30, 120, 200, 255), SUBJECT)  # a cut-out: Load Image's MASK (1 - alpha) is 1 on the background
    example.save(base / "input" / "example.png")
    write_test_video(base / "input" / "video.mp4")  # "Video to video without flicker" loads it
    server = Server(str(base), _free_port(), str(base / "comfyui.log"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def write_test_video(path, frames: int = 6, size: int = 64) -> None:
    """A small H.264 clip (a gradient panning 2 px per frame) with PyAV, which ComfyUI's video nodes use too."""
    import av  # ComfyUI's requirement

    ramp = np.linspace(0, 255, size + 2 * frames, dtype=np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for t in range(frames):
            row = ramp[2 * t:2 * t + size]
            rgb = np.stack([np.tile(row, (size, 1)), np.tile(row[:, None], (1, size)), 255 - np.tile(row, (size, 1))],
                           axis=-1).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())


def to_api_prompt(workflow: dict, object_info: dict, overrides: dict) -> dict:
    """A UI-format workflow as the API prompt the front end would queue (widget values mapped by the schema)."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        info = object_info.get(node["type"])
        if info is None:  # front-end-only nodes (notes)
            continue
        inputs, values = {}, list(node.get("widgets_values") or [])
        specs = {**info["input"].get("required", {}), **info["input"].get("optional", {})}
        linked = {i["name"]: i["link"] for i in node.get("inputs", []) if i.get("link") is not None}
        for name, spec in specs.items():
            kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
            is_widget = isinstance(kind, list) or kind in WIDGET_TYPES
            if is_widget and values:
                inputs[name] = values.pop(0)
                if options.get("control_after_generate"):
                    values.pop(0)  # "fixed" / "randomize": front-end only
                if options.get("image_upload"):
                    values.pop(0)  # the upload button's value
            if name in linked:
                link = links[linked[name]]
                inputs[name] = [str(link[1]), link[2]]
        inputs.update({k: v for k, v in overrides.get(node["type"], {}).items() if k in specs})
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


OVERRIDES = {
    "CLIPstylerLoadCLIP": {"model": "tiny_clip.safetensors"},
    "CLIPstylerStyleNetOptimize": SMALL,
    "CLIPstylerTrainFastStyleNet": SMALL_FAST,
    "CLIPstylerFastStyleApply": {"size": 64},
    "RepeatImageBatch": {"amount": 3},
}


def example_prompt(server, overrides=None, workflow_file=None) -> dict:
    name = workflow_file or next(f for f in WORKFLOWS if "image" in f.lower())
    workflow = json.load(open(os.path.join(REPO, "example_workflows", name)))
    return to_api_prompt(workflow, server.get("/object_info"), {**OVERRIDES, **(overrides or {})})


def node_of(prompt: dict, class_type: str) -> str:
    return next(node_id for node_id, node in prompt.items() if node["class_type"] == class_type)


def test_a_fresh_install_shows_that_no_style_is_saved_yet(server):
    """Runs first: nothing has been saved in this server's models/clipstyler."""
    options = server.get("/object_info/CLIPstylerLoadStyleNet")["CLIPstylerLoadStyleNet"]["input"]["required"]
    assert options["stylenet_name"][1]["options"] == ["(no style saved yet: run Save StyleNet)"]
    prompt = {"1": {"class_type": "CLIPstylerLoadStyleNet",
                    "inputs": {"stylenet_name": "(no style saved yet: run Save StyleNet)"}},
              "2": {"class_type": "CLIPstylerFastStyleApply",
                    "inputs": {"stylenet": ["1", 0], "image": ["3", 0], "chunk_size": 0, "size": 0,
                               "precision": "auto"}},
              "3": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
              "4": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}
    (error,) = server.rejected(prompt)["node_errors"]["1"]["errors"]
    assert "no style is saved in" in error["details"]


def test_nodes_are_listed_with_tooltips_and_advanced_knobs(server):
    info = server.get("/object_info")
    assert OUR_NODES <= set(info)
    assert info["CLIPstylerLoadCLIP"]["display_name"] == "Load CLIP (CLIPstyler)"
    for node_id in OUR_NODES:
        for name, spec in info[node_id]["input"]["required"].items():
            assert spec[1].get("tooltip"), f"{node_id}.{name}"
    model = info["CLIPstylerLoadCLIP"]["input"]["required"]["model"][1]
    assert model["options"][:2] == ["tiny_clip.safetensors", "pretrained: ViT-B-32/openai"]
    optimize = info["CLIPstylerStyleNetOptimize"]["input"]["required"]
    assert optimize["lambda_patch"][1]["advanced"] is True and "advanced" not in optimize["steps"][1]


def test_bad_values_are_refused_before_any_work(server):
    prompt = example_prompt(server)
    optimize, text = node_of(prompt, "CLIPstylerStyleNetOptimize"), node_of(prompt, "CLIPstylerTextStyleTarget")

    # ComfyUI 0.3.64 does not check combo values of schema-API nodes: the node itself refuses an unknown mode,
    # when it starts, before loading VGG or training.
    bad_mode = json.loads(json.dumps(prompt))
    bad_mode[optimize]["inputs"]["mode"] = "fast"
    _, entry = server.run(bad_mode)
    error = next(m[1] for m in entry["status"]["messages"] if m[0] == "execution_error")
    assert error["node_id"] == optimize and "mode must be one of per image, shared (fast)" in error["exception_message"]

    empty = json.loads(json.dumps(prompt))
    empty[text]["inputs"]["style_text"] = "   "
    (error,) = server.rejected(empty)["node_errors"][text]["errors"]  # once, not once per input
    assert "style_text is empty" in error["details"]

    crops = json.loads(json.dumps(prompt))
    crops[optimize]["inputs"].update(size=64, crop_size=128)
    errors = server.rejected(crops)["node_errors"][optimize]["errors"]
    # One message, shown on both inputs it concerns (ComfyUI attaches it to each input validate_inputs takes).
    assert sorted(e["extra_info"]["input_name"] for e in errors) == ["crop_size", "size"]
    assert {e["details"].split(" - ", 1)[1] for e in errors} == {
        "crop_size (128) is larger than size (64): the patches must fit in the image; lower crop_size or raise size"}

    too_big = json.loads(json.dumps(prompt))
    too_big[optimize]["inputs"]["size"] = 100000
    assert "size must be between 16 and 4096" in json.dumps(server.rejected(too_big)["node_errors"][optimize])
    steps = json.loads(json.dumps(prompt))
    steps[optimize]["inputs"]["steps"] = 0
    (error,) = server.rejected(steps)["node_errors"][optimize]["errors"]  # ComfyUI's own range check still applies
    assert error["type"] == "value_smaller_than_min"


@pytest.mark.parametrize("workflow_file", WORKFLOWS)
def test_each_example_workflow_runs_with_its_own_progress_and_previews(server, workflow_file):
    prompt = example_prompt(server, workflow_file=workflow_file)
    previews_before = server.listener.previews
    prompt_id, entry = server.run(prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    images = [image for output in entry["outputs"].values() for image in output.get("images", [])]
    assert images, "the workflow saved no image"
    trainers = [node_id for node_id, node in prompt.items() if node["class_type"] in TRAINERS]
    assert trainers
    for trainer in trainers:
        progress = server.listener.progress(prompt_id, trainer)  # this prompt's node, by its hidden unique_id
        assert progress[-1] == (4, 4) and [value for value, _ in progress] == sorted(value for value, _ in progress)
        curve = server.listener.loss_curve(prompt_id, trainer)  # with the previews (preview_every 1: each step)
        assert [m["start"] for m in curve] == [True] + [False] * (len(curve) - 1) and curve[-1]["final"]
        positions = [p["run"] * m["steps"] + p["step"] for m in curve for p in m["points"]]
        assert positions == list(range(1, curve[-1]["runs"] * curve[-1]["steps"] + 1))  # every step, once, in order
        assert all(p["losses"]["total"] > 0 for m in curve for p in m["points"])
    assert server.listener.previews > previews_before  # live previews reached the front end's socket


def test_saved_stylenets_get_new_names_each_run(server):
    saved = os.path.join(server.base, "models", "clipstyler")
    before = set(os.listdir(saved)) if os.path.isdir(saved) else set()
    for seed in (101, 102):  # a new seed, so ComfyUI's cache does not skip the run
        prompt = example_prompt(server, {"CLIPstylerStyleNetOptimize": {**SMALL, "seed": seed}})
        assert server.run(prompt)[1]["status"]["status_str"] == "success"
    assert len(set(os.listdir(saved)) - before) == 2  # ComfyUI's counter saw the earlier file: none overwritten


def test_saving_outside_the_models_folder_is_refused(server):
    prompt = example_prompt(server, {"CLIPstylerStyleNetOptimize": {**SMALL, "seed": 103},
                                     "CLIPstylerSaveStyleNet": {"filename_prefix": "../../escaped"}})
    _, entry = server.run(prompt)
    assert entry["status"]["status_str"] == "error"
    error = next(m[1] for m in entry["status"]["messages"] if m[0] == "execution_error")
    assert error["node_type"] == "CLIPstylerSaveStyleNet" and "not allowed" in error["exception_message"]
    assert not [p for p in os.listdir(server.base) if p.startswith("escaped")]


def test_cancel_stops_a_long_optimisation(server):
    prompt = example_prompt(server, {"CLIPstylerStyleNetOptimize": {**SMALL, "steps": 5000, "seed": 7}})
    optimize = node_of(prompt, "CLIPstylerStyleNetOptimize")
    prompt_id = server.queue(prompt)
    end = time.time() + 120
    while len(server.listener.progress(prompt_id, optimize)) < 2 and time.time() < end:
        time.sleep(0.2)
    started = time.time()
    server.post("/interrupt", {})
    entry = server.wait(prompt_id, timeout=120)
    assert time.time() - started < 30
    messages = [m[0] for m in entry["status"]["messages"]]
    assert "execution_interrupted" in messages
    assert server.listener.progress(prompt_id, optimize)[-1][0] < 5000


@pytest.mark.parametrize("option", ["torch_compile", "channels_last"])
def test_speed_options_run_inside_comfyui(server, option):
    """torch.compile and NHWC inside ComfyUI's worker thread, where nodes run under inference mode."""
    prompt = example_prompt(server, {"CLIPstylerStyleNetOptimize": {**SMALL, option: True,
                                                                    "seed": 300 + len(option)}})
    _, entry = server.run(prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert "torch.compile failed" not in server.logs()


def test_the_background_workflow_keeps_the_subject(server):
    """Load Image's MASK (1 on the cut-out's transparent background) -> StyleNet Optimize: the saved image is the
    input on the subject (to 1/255: the PNG's rounding) and stylized around it."""
    prompt = example_prompt(server, {"CLIPstylerStyleNetOptimize": {**SMALL, "seed": 400}},
                            "Stylize the background only.json")
    _, entry = server.run(prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    (saved,) = [image for output in entry["outputs"].values() for image in output.get("images", [])]
    path = os.path.join(server.base, saved["type"], saved["subfolder"], saved["filename"])
    result, source = (torch.from_numpy(np.array(Image.open(file).convert("RGB"))).int()
                      for file in (path, os.path.join(server.base, "input", "example.png")))
    left, top, right, bottom = SUBJECT
    assert (result - source)[top:bottom, left:right].abs().max() <= 1
    assert (result - source).abs().max() > 8
