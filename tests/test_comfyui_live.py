"""The pack inside a real ComfyUI server: node list, each example workflow queued, progress, cancel.

Skipped unless COMFYUI_PATH points at a ComfyUI checkout (CI never needs one). COMFYUI_PYTHON names the
interpreter that has ComfyUI's requirements (default: this one). The server runs on the CPU with its own temporary
base directory: this pack linked into custom_nodes, the tiny test CLIP and VGG in models, nothing downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from PIL import Image
from tests_support import REPO

COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
pytestmark = pytest.mark.skipif(not COMFYUI_PATH, reason="set COMFYUI_PATH to a ComfyUI checkout to run this")
OUR_NODES = {"CLIPstylerLoadCLIP", "CLIPstylerTextStyleTarget", "CLIPstylerStyleNetOptimize",
             "CLIPstylerFastStyleApply", "CLIPstylerSaveStyleNet", "CLIPstylerLoadStyleNet"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
# Small settings so a CPU run takes seconds; everything else comes from the workflow as saved.
SMALL = {"steps": 4, "size": 64, "crop_size": 32, "num_crops": 4, "preview_every": 1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, base: str, port: int, log_path: str) -> None:
        self.base, self.url, self.log_path = base, f"http://127.0.0.1:{port}", log_path
        python = os.environ.get("COMFYUI_PYTHON", sys.executable)
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--base-directory", base],
            cwd=COMFYUI_PATH, stdout=self.log, stderr=subprocess.STDOUT,
        )

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
                return
            except OSError:
                time.sleep(1)
        raise TimeoutError(f"ComfyUI did not start:\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        self.log.flush()
        return open(self.log_path).read()

    def run(self, prompt: dict, timeout: float = 600) -> dict:
        prompt_id = self.post("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})["prompt_id"]
        return self.wait(prompt_id, timeout)

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
    base = tmp_path_factory.mktemp("comfy_base")
    (base / "custom_nodes").mkdir()
    os.symlink(REPO, base / "custom_nodes" / "ComfyUI-CLIPstyler")
    for folder, source, name in (("clip", tiny_clip_file, "tiny_clip.safetensors"),
                                 ("vgg", vgg_file, "vgg19-dcbb9e9d.pth")):
        (base / "models" / folder).mkdir(parents=True)
        shutil.copy(source, base / "models" / folder / name)
    (base / "input").mkdir()
    Image.new("RGB", (96, 64), (30, 120, 200)).save(base / "input" / "example.png")
    server = Server(str(base), _free_port(), str(base / "comfyui.log"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


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
    "CLIPstylerFastStyleApply": {"size": 64},
    "RepeatImageBatch": {"amount": 3},
}


def test_nodes_are_listed_with_tooltips(server):
    info = server.get("/object_info")
    assert OUR_NODES <= set(info)
    assert info["CLIPstylerLoadCLIP"]["display_name"] == "Load CLIP (CLIPstyler)"
    for node_id in OUR_NODES:
        for name, spec in info[node_id]["input"]["required"].items():
            assert spec[1].get("tooltip"), f"{node_id}.{name}"
    assert "tiny_clip.safetensors" in info["CLIPstylerLoadCLIP"]["input"]["required"]["model"][1]["options"]


@pytest.mark.parametrize("workflow_file", sorted(f for f in os.listdir(os.path.join(REPO, "example_workflows"))
                                                 if f.endswith(".json")))
def test_each_example_workflow_runs(server, workflow_file):
    workflow = json.load(open(os.path.join(REPO, "example_workflows", workflow_file)))
    prompt = to_api_prompt(workflow, server.get("/object_info"), OVERRIDES)
    entry = server.run(prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    images = [image for output in entry["outputs"].values() for image in output.get("images", [])]
    assert images, "the workflow saved no image"
    assert "CLIPstyler image 1/1 step 4/4" in server.logs()  # per-step progress reached the node's callback


def test_saved_stylenets_get_new_names_each_run(server):
    workflow = json.load(open(os.path.join(REPO, "example_workflows", "clipstyler_text_style.json")))
    saved = os.path.join(server.base, "models", "clipstyler")
    before = set(os.listdir(saved)) if os.path.isdir(saved) else set()
    for seed in (101, 102):  # a new seed, so ComfyUI's cache does not skip the run
        overrides = {**OVERRIDES, "CLIPstylerStyleNetOptimize": {**SMALL, "seed": seed}}
        prompt = to_api_prompt(workflow, server.get("/object_info"), overrides)
        assert server.run(prompt)["status"]["status_str"] == "success"
    assert len(set(os.listdir(saved)) - before) == 2  # ComfyUI's counter saw the earlier file: none overwritten


def test_cancel_stops_a_long_optimisation(server):
    workflow = json.load(open(os.path.join(REPO, "example_workflows", "clipstyler_text_style.json")))
    prompt = to_api_prompt(workflow, server.get("/object_info"),
                           {**OVERRIDES, "CLIPstylerStyleNetOptimize": {**SMALL, "steps": 5000, "seed": 7}})
    prompt_id = server.post("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})["prompt_id"]
    end = time.time() + 120
    while "step 2/5000" not in server.logs() and time.time() < end:
        time.sleep(0.2)
    started = time.time()
    server.post("/interrupt", {})
    entry = server.wait(prompt_id, timeout=120)
    assert time.time() - started < 30
    messages = [m[0] for m in entry["status"]["messages"]]
    assert "execution_interrupted" in messages
    assert "step 5000/5000" not in server.logs()


@pytest.mark.parametrize("option", ["torch_compile", "channels_last"])
def test_speed_options_run_inside_comfyui(server, option):
    """torch.compile and NHWC inside ComfyUI's worker thread, where nodes run under inference mode."""
    workflow = json.load(open(os.path.join(REPO, "example_workflows", "clipstyler_text_style.json")))
    overrides = {**OVERRIDES, "CLIPstylerStyleNetOptimize": {**SMALL, option: True, "seed": 300 + len(option)}}
    entry = server.run(to_api_prompt(workflow, server.get("/object_info"), overrides))
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert "torch.compile failed" not in server.logs()
