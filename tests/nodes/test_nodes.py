"""The nodes without ComfyUI: the CPU stand-in API, the whole graph, progress, cancel, files and bad inputs."""

import os
import shutil

import pytest
import torch

import nodes
from clipstyler.errors import CLIPstylerError
from clipstyler.vgg import VGG19_FILENAME
from nodes import progress as progress_module
from nodes.comfy import IN_COMFYUI, folder_paths, model_management
from nodes.folders import register_folders

N = nodes.NODE_CLASS_MAPPINGS
FAST = dict(steps=3, size=64, crop_size=32, num_crops=4, preview_every=1)


@pytest.fixture
def models_dir(tmp_path, monkeypatch, tiny_clip_file, vgg_file):
    monkeypatch.setattr(folder_paths, "models_dir", str(tmp_path))
    monkeypatch.setattr(folder_paths, "folder_names_and_paths", {})
    register_folders()
    (tmp_path / "clip").mkdir()
    shutil.copy(tiny_clip_file, tmp_path / "clip" / "tiny_clip.safetensors")
    (tmp_path / "vgg").mkdir()
    os.symlink(vgg_file, tmp_path / "vgg" / VGG19_FILENAME)
    return tmp_path


@pytest.fixture
def recorded_bars(monkeypatch):
    bars = []

    class RecordingBar(progress_module.ProgressBar):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(progress_module, "ProgressBar", RecordingBar)
    return bars


def run(node_id, *args, **kwargs):
    with torch.inference_mode():  # as ComfyUI runs every node
        return N[node_id].execute(*args, **kwargs).args


def clip_and_target(style="white wool"):
    (clip,) = run("CLIPstylerLoadCLIP", "tiny_clip.safetensors", "auto")
    (target,) = run("CLIPstylerTextStyleTarget", clip, style, "a Photo")
    return clip, target


def test_imports_without_comfyui():
    assert not IN_COMFYUI
    assert set(N) == {"CLIPstylerLoadCLIP", "CLIPstylerTextStyleTarget", "CLIPstylerStyleNetOptimize",
                      "CLIPstylerFastStyleApply", "CLIPstylerSaveStyleNet", "CLIPstylerLoadStyleNet"}


def test_schemas_prefixed_categorised_and_every_input_has_a_tooltip(models_dir):
    for node_id, node in N.items():
        schema = node.define_schema()
        assert schema.node_id == node_id and schema.category == "CLIPstyler"
        assert schema.description and "(CLIPstyler)" in schema.display_name
        for item in [*schema.inputs, *schema.outputs]:
            assert item.tooltip, f"{node_id}.{item.id or item.display_name} has no tooltip"
    assert nodes.NODE_DISPLAY_NAME_MAPPINGS["CLIPstylerLoadCLIP"] == "Load CLIP (CLIPstyler)"


def test_model_lists_come_from_the_folders(models_dir):
    model_input = N["CLIPstylerLoadCLIP"].define_schema().inputs[0]
    options = model_input.options["options"]
    assert options[0] == "pretrained: ViT-B-32/openai" and "tiny_clip.safetensors" in options
    vgg_input = next(i for i in N["CLIPstylerStyleNetOptimize"].define_schema().inputs if i.id == "vgg")
    assert vgg_input.options["options"] == [VGG19_FILENAME]


def test_graph_load_target_optimize_apply_save_load(models_dir, recorded_bars):
    clip, target = clip_and_target()
    image = torch.rand(1, 60, 90, 3)
    stylized, style = run("CLIPstylerStyleNetOptimize", image, clip, target, **FAST)
    assert stylized.shape == (1, 60, 90, 3) and stylized.device.type == "cpu"
    assert 0 <= stylized.min() and stylized.max() <= 1
    assert style.style_text == "white wool" and style.settings["steps"] == 3

    (bar,) = recorded_bars
    assert [u[0] for u in bar.updates] == [1, 2, 3] and bar.total == 3
    kind, preview, side = bar.updates[-1][2]
    assert kind == "JPEG" and preview.size == (64, 40) and side == 512

    frames = torch.rand(5, 60, 90, 3)
    (applied,) = run("CLIPstylerFastStyleApply", style, frames, chunk_size=2)
    assert applied.shape == (5, 60, 90, 3)
    (applied_one,) = run("CLIPstylerFastStyleApply", style, image, size=64)
    assert torch.allclose(applied_one, stylized, atol=2e-2)  # the net's output at the size it was trained at

    (name,) = run("CLIPstylerSaveStyleNet", style, "wool")
    (second,) = run("CLIPstylerSaveStyleNet", style, "wool")
    assert (name, second) == ("wool_00001_.safetensors", "wool_00002_.safetensors")
    assert os.path.isfile(models_dir / "clipstyler" / name)
    assert name in N["CLIPstylerLoadStyleNet"].define_schema().inputs[0].options["options"]
    loaded, text = run("CLIPstylerLoadStyleNet", name)
    assert text == "white wool"
    (again,) = run("CLIPstylerFastStyleApply", loaded, frames, chunk_size=2)
    assert torch.equal(again, applied)


def test_one_target_serves_many_optimize_runs(models_dir):
    clip, target = clip_and_target()
    direction = target.direction.clone()
    for seed in (0, 1):
        run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, seed=seed, **FAST)
    assert torch.equal(target.direction, direction)


def test_batch_modes(models_dir, recorded_bars):
    clip, target = clip_and_target()
    images = torch.rand(2, 64, 64, 3)
    per_image, _ = run("CLIPstylerStyleNetOptimize", images, clip, target, mode="per image", **FAST)
    shared, _ = run("CLIPstylerStyleNetOptimize", images, clip, target, mode="shared (fast)", **FAST)
    assert per_image.shape == shared.shape == (2, 64, 64, 3)
    assert recorded_bars[0].total == 6 and recorded_bars[1].total == 3


def test_cancel_stops_promptly(models_dir, recorded_bars, monkeypatch):
    clip, target = clip_and_target()
    real_update = progress_module.ProgressBar.update_absolute

    def interrupt_after_step_2(self, value, total=None, preview=None):
        real_update(self, value, total, preview)
        if value == 2:
            model_management.interrupt_current_processing(True)  # the user presses Cancel during step 2

    monkeypatch.setattr(progress_module.ProgressBar, "update_absolute", interrupt_after_step_2)
    with pytest.raises(model_management.InterruptProcessingException):
        run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target,
            **{**FAST, "steps": 100})
    assert [u[0] for u in recorded_bars[0].updates] == [1, 2]


def test_paper_display_stretches_to_full_range(models_dir):
    clip, target = clip_and_target()
    out, _ = run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, paper_display=True, **FAST)
    assert out.min().item() == pytest.approx(0.0, abs=1e-6) and out.max().item() == pytest.approx(1.0, abs=1e-6)


def test_bad_inputs_are_clear_errors(models_dir, tmp_path):
    clip, target = clip_and_target()
    with pytest.raises(CLIPstylerError, match="image has 4 channels"):
        run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 4), clip, target, **FAST)
    with pytest.raises(CLIPstylerError, match="crop_size=128"):
        run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, **{**FAST, "crop_size": 128})
    with pytest.raises(CLIPstylerError, match="style text is empty"):
        run("CLIPstylerTextStyleTarget", clip, "   ", "a Photo")
    assert "style_text is empty" in N["CLIPstylerTextStyleTarget"].validate_inputs(style_text="", source_text="x")
    assert N["CLIPstylerTextStyleTarget"].validate_inputs(style_text="fire", source_text="a Photo") is True

    (models_dir / "clip" / "broken.safetensors").write_bytes(b"junk")
    with pytest.raises(CLIPstylerError, match="broken.safetensors"):
        run("CLIPstylerLoadCLIP", "broken.safetensors", "auto")
    (models_dir / "clipstyler" ).mkdir(exist_ok=True)
    shutil.copy(models_dir / "clip" / "tiny_clip.safetensors", models_dir / "clipstyler" / "not_a_style.safetensors")
    with pytest.raises(CLIPstylerError, match="not a CLIPstyler StyleNet"):
        run("CLIPstylerLoadStyleNet", "not_a_style.safetensors")
