"""The nodes inside a real ComfyUI's Python API (in this process): schema, folders, memory management, progress,
cancel, files and bad inputs. tests/test_comfyui_live.py runs them through a ComfyUI server."""

import importlib
import os
import pathlib
import re
import shutil

import comfy_env
import pytest
import torch
from tests_support import REPO

comfy_env.require_comfyui()
pack = comfy_env.load_pack()

import comfy.model_management as model_management  # noqa: E402  (importable once the pack found ComfyUI)
import folder_paths  # noqa: E402
from comfy_api.latest import io  # noqa: E402


def pack_module(name: str):
    """A module of the pack as ComfyUI loaded it; the nodes use the pack's own copy of the library (..clipstyler)."""
    return importlib.import_module(f"{comfy_env.PACK_MODULE}.{name}")


nodes = pack.nodes
progress_module, device_module = pack_module("nodes.progress"), pack_module("nodes.device")
models_module, folders = pack_module("nodes.models"), pack_module("nodes.folders")
CLIPstylerError = pack_module("clipstyler.errors").CLIPstylerError
VGG19_FILENAME = pack_module("clipstyler.vgg").VGG19_FILENAME

N = nodes.NODE_CLASS_MAPPINGS
FAST = dict(steps=3, size=64, crop_size=32, num_crops=4, preview_every=1)


@pytest.fixture
def models_dir(tmp_path, monkeypatch, tiny_clip_file, vgg_file):
    """Every ComfyUI model folder moved under tmp_path, as `--base-directory tmp_path` would place them."""
    comfy_env.move_model_folders(tmp_path, monkeypatch)
    (tmp_path / "clip").mkdir()
    shutil.copy(tiny_clip_file, tmp_path / "clip" / "tiny_clip.safetensors")
    (tmp_path / "vgg").mkdir()
    os.symlink(vgg_file, tmp_path / "vgg" / VGG19_FILENAME)
    models_module._vgg_cache.clear()
    return tmp_path


@pytest.fixture
def recorded_bars(monkeypatch):
    bars = []

    class RecordingBar(progress_module.ProgressBar):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.updates = []
            bars.append(self)

        def update_absolute(self, value, total=None, preview=None):
            self.updates.append((value, total, preview))
            super().update_absolute(value, total, preview)

    monkeypatch.setattr(progress_module, "ProgressBar", RecordingBar)
    return bars


def run(node_id, *args, unique_id="7", **kwargs):
    """Run a node as ComfyUI's executor does: a class clone with the hidden inputs, under inference mode."""
    clone = N[node_id].PREPARE_CLASS_CLONE({io.Hidden.unique_id: unique_id})
    with torch.inference_mode():
        output = clone.EXECUTE_NORMALIZED(*args, **kwargs)
    return output


def outputs(node_id, *args, **kwargs):
    return run(node_id, *args, **kwargs).result


def clip_and_target(style="white wool"):
    (clip,) = outputs("CLIPstylerLoadCLIP", "tiny_clip.safetensors", "auto")
    (target,) = outputs("CLIPstylerTextStyleTarget", clip, style, "a Photo")
    return clip, target


def input_spec(node_id, name):
    inputs = N[node_id].INPUT_TYPES()
    return {**inputs["required"], **inputs.get("optional", {})}[name]


def test_the_real_schema_api_is_used():
    assert issubclass(N["CLIPstylerStyleNetOptimize"], io.ComfyNode)
    assert set(N) == {"CLIPstylerLoadCLIP", "CLIPstylerTextStyleTarget", "CLIPstylerStyleNetOptimize",
                      "CLIPstylerTrainFastStyleNet", "CLIPstylerFastStyleApply", "CLIPstylerInterpolateStyleNets",
                      "CLIPstylerSaveStyleNet", "CLIPstylerLoadStyleNet"}


def test_schemas_prefixed_categorised_and_every_input_has_a_tooltip(models_dir):
    for node_id, node in N.items():
        schema = node.define_schema()
        assert schema.node_id == node_id and schema.category == "CLIPstyler"
        assert schema.description and "(CLIPstyler)" in schema.display_name
        for item in [*schema.inputs, *schema.outputs]:
            assert item.tooltip, f"{node_id}.{item.id or item.display_name} has no tooltip"
    assert nodes.NODE_DISPLAY_NAME_MAPPINGS["CLIPstylerLoadCLIP"] == "Load CLIP (CLIPstyler)"


def test_each_nodes_help_page_names_every_input_and_its_combo_defaults(models_dir):
    """web/docs/<node>.md is the node's help in the front end: it must not drift from the schema (a page once said
    fp32 was the default after the nodes had moved to auto)."""
    docs = pathlib.Path(REPO) / "web" / "docs"
    for node_id, node in N.items():
        page = (docs / f"{node_id}.md").read_text(encoding="utf-8")
        for item in node.define_schema().inputs:
            rows = [line for line in page.splitlines() if line.startswith("|") and f"`{item.id}`" in line]
            assert rows, f"web/docs/{node_id}.md has no row for the input {item.id}"
            stated = re.findall(r"`([^`]+)` \(default", " ".join(rows))
            if isinstance(item, io.Combo.Input) and stated:
                assert stated == [item.default], f"web/docs/{node_id}.md: {item.id} default {stated} != {item.default}"


def test_everyday_widgets_in_view_and_the_papers_knobs_behind_show_advanced():
    inputs = N["CLIPstylerStyleNetOptimize"].INPUT_TYPES()["required"]
    advanced = {name for name, spec in inputs.items() if len(spec) > 1 and spec[1].get("advanced")}
    everyday = set(inputs) - advanced
    assert everyday == {"image", "clip", "target", "mode", "steps", "size", "seed", "precision"}
    assert {"lr", "crop_size", "num_crops", "threshold", "lambda_patch", "crop_batch", "torch_compile"} <= advanced
    # The order is that of the workflows saved before: widget values keep their meaning.
    assert list(inputs) == ["image", "clip", "target", "mode", "steps", "lr", "size", "crop_size", "num_crops",
                            "threshold", "lambda_patch", "lambda_dir", "lambda_content", "lambda_tv", "seed",
                            "precision", "crop_batch", "global_view", "vgg", "paper_display", "preview_every",
                            "torch_compile", "channels_last"]
    # Settings added since: optional, at the end, so old workflows and API prompts still run (with the defaults).
    later = N["CLIPstylerStyleNetOptimize"].INPUT_TYPES()["optional"]
    assert list(later) == ["distortion", "lr_step_size", "lr_gamma", "reference_lr_schedule", "images_per_step",
                           "ngf", "lambda_temporal", "temporal_motion", "temporal_noise", "mask", "feather"]
    # the mask socket and its feather, last (tests/nodes/test_mask_nodes.py), stay in view
    assert all(spec[1]["advanced"] for name, spec in later.items() if name not in ("mask", "feather"))


@pytest.mark.parametrize("node_id", ["CLIPstylerStyleNetOptimize", "CLIPstylerTrainFastStyleNet"])
def test_trainers_default_to_auto_precision_while_the_library_keeps_fp32(node_id):
    """ComfyUI users get the fast path (bf16/fp16 on GPUs, bf16 on native-bf16 CPUs); the library stays exact."""
    precision = N[node_id].INPUT_TYPES()["required"]["precision"]
    assert precision[1]["default"] == "auto"
    library = [pack_module(name) for name in ("clipstyler.settings", "clipstyler.fast_settings")]
    assert library[0].StyleSettings().precision == "fp32" and library[1].FastSettings().precision == "fp32"


def test_setting_inputs_come_from_the_settings_fields():
    """Default, range and help are declared once, on StyleSettings (clipstyler/settings.py); the node's own defaults
    (NODE_DEFAULTS: precision auto) are the only exceptions."""
    from dataclasses import fields

    node_defaults = pack_module("nodes.setting_inputs").NODE_DEFAULTS
    assert node_defaults == {"precision": "auto"}
    settings = {spec.name: spec for spec in fields(pack_module("clipstyler.settings").StyleSettings)}
    schema = N["CLIPstylerStyleNetOptimize"].INPUT_TYPES()
    inputs = {**schema["required"], **schema["optional"]}
    assert set(settings) <= set(inputs)
    for name, spec in settings.items():
        options = inputs[name][1]
        assert options["default"] == node_defaults.get(name, spec.default), name
        assert options["tooltip"] == spec.metadata["help"], name
        if spec.metadata["low"] is not None and not spec.metadata["strict_low"]:
            assert options["min"] == spec.metadata["low"], name
        if spec.metadata["high"] is not None:
            assert options["max"] == spec.metadata["high"], name
        if spec.metadata["choices"] is not None:
            assert options["options"] == list(spec.metadata["choices"]), name
    assert inputs["lr"][1]["min"] > 0  # the library refuses lr = 0: the widget starts above it


def test_load_clip_lists_local_files_first_then_suggestions_then_every_other_tag(models_dir):
    (models_dir / "clip_vision").mkdir()
    shutil.copy(models_dir / "clip" / "tiny_clip.safetensors", models_dir / "clip_vision" / "b_clip.pt")
    options = input_spec("CLIPstylerLoadCLIP", "model")[1]["options"]
    assert options[:3] == ["b_clip.pt", "tiny_clip.safetensors", "pretrained: ViT-B-32/openai"]
    assert options[3:6] == ["pretrained: ViT-B-16/openai", "pretrained: ViT-L-14/openai", "pretrained: RN50/openai"]
    assert "pretrained: ViT-H-14/laion2b_s32b_b79k" in options[9:]  # the rest stays reachable
    assert len(options) == len(set(options))
    assert input_spec("CLIPstylerLoadCLIP", "model")[1]["default"] == "pretrained: ViT-B-32/openai"


def test_load_clip_leaves_the_model_on_comfyuis_offload_device(models_dir, monkeypatch):
    offload = torch.device("meta")  # stands for the CPU beside a GPU: any device other than the compute device
    monkeypatch.setattr(model_management, "unet_offload_device", lambda: offload)
    (clip,) = outputs("CLIPstylerLoadCLIP", "tiny_clip.safetensors", "auto")
    assert {p.device for p in clip.model.parameters()} == {offload}
    assert not any(p.is_inference() for p in clip.model.parameters())  # loaded outside inference mode


def test_models_work_on_the_compute_device_and_go_back_after_the_run(models_dir, monkeypatch):
    """As core's upscale node: free memory first, models on the compute device for the job, then back."""
    clip, target = clip_and_target()
    freed, during = [], {}
    monkeypatch.setattr(model_management, "free_memory", lambda amount, device, **k: freed.append((amount, device)))
    real_stylize = nodes.optimize.stylize

    def stylize_and_look(content, clip, vgg, *args, **kwargs):
        during["clip"], during["vgg"] = next(clip.model.parameters()).device, next(vgg.parameters()).device
        return real_stylize(content, clip, vgg, *args, **kwargs)

    monkeypatch.setattr(nodes.optimize, "stylize", stylize_and_look)
    models_module.load_vgg(VGG19_FILENAME)  # loaded (on the CPU) before the offload device changes below
    offload = torch.device("meta")  # ComfyUI's offload device from here on: where the models must end up
    monkeypatch.setattr(model_management, "unet_offload_device", lambda: offload)
    image, style = outputs("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, **FAST)
    compute = model_management.get_torch_device()
    assert during == {"clip": compute, "vgg": compute}
    (vgg,) = models_module._vgg_cache.values()
    assert {p.device for p in [*clip.model.parameters(), *vgg.parameters()]} == {offload}
    weights = model_management.module_size(clip.model) + model_management.module_size(vgg)
    (amount, device), = freed
    assert device == compute and amount > weights + 64 * 2**20  # the weights and the job's working memory
    assert image.device == model_management.intermediate_device()
    assert next(style.stylenet.parameters()).device.type == "cpu"


def test_models_go_back_when_the_run_is_cancelled(models_dir, monkeypatch):
    clip, target = clip_and_target()
    models_module.load_vgg(VGG19_FILENAME)
    offload = torch.device("meta")
    monkeypatch.setattr(model_management, "unet_offload_device", lambda: offload)

    def cancel(self, report):
        raise model_management.InterruptProcessingException()

    monkeypatch.setattr(progress_module.OptimizeProgress, "__call__", cancel)
    with pytest.raises(model_management.InterruptProcessingException):
        run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, **FAST)
    assert {p.device for p in clip.model.parameters()} == {offload}


def test_fast_apply_and_text_target_also_give_the_models_back(models_dir, monkeypatch):
    clip, target = clip_and_target()
    _, style = outputs("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, **FAST)
    offload = torch.device("meta")
    monkeypatch.setattr(model_management, "unet_offload_device", lambda: offload)
    outputs("CLIPstylerFastStyleApply", style, torch.rand(2, 16, 16, 3))
    assert {p.device for p in style.stylenet.parameters()} == {offload}
    outputs("CLIPstylerTextStyleTarget", clip, "fire", "a Photo")
    assert {p.device for p in clip.model.parameters()} == {offload}


def test_low_vram_sends_fewer_patches_per_clip_pass(models_dir, monkeypatch):
    monkeypatch.setattr(model_management, "vram_state", model_management.VRAMState.LOW_VRAM)
    seen = []
    real_stylize = nodes.optimize.stylize
    monkeypatch.setattr(nodes.optimize, "stylize",
                        lambda content, clip, vgg, target, settings, *a, **k: seen.append(settings.crop_batch)
                        or real_stylize(content, clip, vgg, target, settings, *a, **k))
    clip, target = clip_and_target()
    run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, **{**FAST, "num_crops": 8},
        crop_batch=0)
    run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, **FAST, crop_batch=2)
    assert seen == [device_module.LOW_VRAM_CLIP_BATCH, 2]


def test_graph_load_target_optimize_apply_save_load(models_dir, recorded_bars):
    clip, target = clip_and_target()
    image = torch.rand(1, 60, 90, 3)
    stylized, style = outputs("CLIPstylerStyleNetOptimize", image, clip, target, **FAST)
    assert stylized.shape == (1, 60, 90, 3) and stylized.device.type == "cpu"
    assert 0 <= stylized.min() and stylized.max() <= 1
    assert style.style_text == "white wool" and style.settings["steps"] == 3

    (bar,) = recorded_bars
    assert bar.node_id == "7"  # the hidden unique_id: progress goes to this node in the front end
    assert [u[0] for u in bar.updates] == [1, 2, 3] and bar.total == 3
    kind, preview, side = bar.updates[-1][2]
    assert kind == "JPEG" and preview.size == (64, 40) and side == 512

    frames = torch.rand(5, 60, 90, 3)
    (applied,) = outputs("CLIPstylerFastStyleApply", style, frames, chunk_size=2)
    assert applied.shape == (5, 60, 90, 3)
    # fp32, as Optimize computes its result (auto is bf16 on a CPU with native bf16: 0.020 apart on one)
    (applied_one,) = outputs("CLIPstylerFastStyleApply", style, image, size=64, precision="fp32")
    assert torch.allclose(applied_one, stylized, atol=2e-2)  # the net's output at the size it was trained at

    saved = run("CLIPstylerSaveStyleNet", style, "wool")
    (second,) = outputs("CLIPstylerSaveStyleNet", style, "wool")
    assert (saved.result[0], second) == ("wool_00001_.safetensors", "wool_00002_.safetensors")
    assert saved.ui == {"text": ["wool_00001_.safetensors"]}
    assert os.path.isfile(models_dir / "clipstyler" / "wool_00001_.safetensors")
    assert "wool_00001_.safetensors" in input_spec("CLIPstylerLoadStyleNet", "stylenet_name")[1]["options"]
    loaded, text = outputs("CLIPstylerLoadStyleNet", "wool_00001_.safetensors")
    assert text == "white wool"
    (again,) = outputs("CLIPstylerFastStyleApply", loaded, frames, chunk_size=2)
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
    (per_image, _) = outputs("CLIPstylerStyleNetOptimize", images, clip, target, mode="per image", **FAST)
    (shared, _) = outputs("CLIPstylerStyleNetOptimize", images, clip, target, mode="shared (fast)", **FAST)
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
        run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, **{**FAST, "steps": 100})
    assert [u[0] for u in recorded_bars[0].updates] == [1, 2]


def test_paper_display_stretches_to_full_range(models_dir):
    clip, target = clip_and_target()
    out, _ = outputs("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, paper_display=True,
                     **FAST)
    assert out.min().item() == pytest.approx(0.0, abs=1e-6) and out.max().item() == pytest.approx(1.0, abs=1e-6)


def test_validation_before_anything_runs():
    optimize, text, load = (N["CLIPstylerStyleNetOptimize"], N["CLIPstylerTextStyleTarget"],
                            N["CLIPstylerLoadStyleNet"])
    assert optimize.validate_inputs(size=512, crop_size=128) is True
    assert optimize.validate_inputs(size=None, crop_size=128) is True  # size linked from another node
    assert "crop_size (256) is larger than size (128)" in optimize.validate_inputs(size=128, crop_size=256)
    assert "size must be between 16 and 4096, got 8" in optimize.validate_inputs(size=8, crop_size=8)
    assert "style_text is empty" in text.validate_inputs(style_text="  ")
    assert text.validate_inputs(style_text="fire") is True
    assert "is not in" in load.validate_inputs(stylenet_name="gone.safetensors")


def test_empty_styles_folder_shows_that_no_style_is_saved_yet(models_dir):
    (options,) = [input_spec("CLIPstylerLoadStyleNet", "stylenet_name")[1]["options"]]
    assert options == [folders.NO_STYLENETS]
    message = N["CLIPstylerLoadStyleNet"].validate_inputs(stylenet_name=folders.NO_STYLENETS)
    assert "no style is saved in" in message and "Save StyleNet" in message
    with pytest.raises(CLIPstylerError, match="no style is saved"):
        run("CLIPstylerLoadStyleNet", folders.NO_STYLENETS)


def test_a_long_style_text_is_shown_as_a_warning_on_the_node(models_dir):
    (clip,) = outputs("CLIPstylerLoadCLIP", "tiny_clip.safetensors", "auto")
    output = run("CLIPstylerTextStyleTarget", clip, " ".join(["swirling"] * 80), "a Photo")
    (note,) = output.ui["text"]
    assert "too long for CLIP" in note
    assert run("CLIPstylerTextStyleTarget", clip, "fire", "a Photo").ui is None


def test_bad_inputs_are_clear_errors(models_dir):
    clip, target = clip_and_target()
    with pytest.raises(CLIPstylerError, match="image has 4 channels"):
        run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 4), clip, target, **FAST)
    with pytest.raises(CLIPstylerError, match="lower crop_size to 64 or less"):
        run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, **{**FAST, "crop_size": 128})
    with pytest.raises(CLIPstylerError, match="short side must be at least 32 px"):
        run("CLIPstylerStyleNetOptimize", torch.rand(1, 4, 200, 3), clip, target, **FAST)
    with pytest.raises(CLIPstylerError, match="mode must be one of per image, shared"):
        run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, mode="fast", **FAST)
    with pytest.raises(CLIPstylerError, match="steps must be a whole number"):
        run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, **{**FAST, "steps": 2.5})
    with pytest.raises(CLIPstylerError, match="style text is empty"):
        run("CLIPstylerTextStyleTarget", clip, "   ", "a Photo")
    with pytest.raises(CLIPstylerError, match="source text is empty"):
        run("CLIPstylerTextStyleTarget", clip, "fire", "")

    (models_dir / "clip" / "broken.safetensors").write_bytes(b"junk")
    with pytest.raises(CLIPstylerError, match="broken.safetensors"):
        run("CLIPstylerLoadCLIP", "broken.safetensors", "auto")
    (models_dir / "clipstyler").mkdir(exist_ok=True)
    shutil.copy(models_dir / "clip" / "tiny_clip.safetensors", models_dir / "clipstyler" / "not_a_style.safetensors")
    with pytest.raises(CLIPstylerError, match="not a CLIPstyler StyleNet"):
        run("CLIPstylerLoadStyleNet", "not_a_style.safetensors")


@pytest.mark.parametrize("height, width", [(1, 1), (8, 8), (4, 200)])
def test_fast_style_apply_takes_tiny_images(models_dir, height, width):
    clip, target = clip_and_target()
    _, style = outputs("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, **FAST)
    (out,) = outputs("CLIPstylerFastStyleApply", style, torch.rand(2, height, width, 3))
    assert out.shape == (2, height, width, 3)


def test_saving_outside_the_styles_folder_is_refused_by_comfyui(models_dir):
    clip, target = clip_and_target()
    _, style = outputs("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, **FAST)
    with pytest.raises(Exception, match="outside the output folder is not allowed"):
        run("CLIPstylerSaveStyleNet", style, "../../escaped")
    assert not list(models_dir.parent.glob("escaped*"))
    (name,) = outputs("CLIPstylerSaveStyleNet", style, "styles/wool")  # subfolders inside are fine
    assert name == "styles/wool_00001_.safetensors"


def test_offline_load_clip_says_where_comfyui_wants_the_file(models_dir, monkeypatch):
    offline = lambda url: "cannot resolve huggingface.co"  # noqa: E731
    monkeypatch.setattr(pack_module("clipstyler.clip.loading"), "unreachable_reason", offline)
    with pytest.raises(CLIPstylerError) as error:
        run("CLIPstylerLoadCLIP", "pretrained: ViT-B-32/openai", "auto")
    message = str(error.value)
    assert "ViT-B-32.pt" in message and "https://openaipublic" in message
    assert folder_paths.get_folder_paths("clip")[0] in message and "Load CLIP (CLIPstyler)" in message


def test_offline_vgg_says_where_comfyui_wants_the_file(models_dir, monkeypatch):
    (models_dir / "vgg" / VGG19_FILENAME).unlink()
    offline = lambda url: "cannot resolve download.pytorch.org"  # noqa: E731
    monkeypatch.setattr(pack_module("clipstyler.vgg"), "unreachable_reason", offline)
    clip, target = clip_and_target()
    with pytest.raises(CLIPstylerError, match=f"put it in {models_dir / 'vgg'}, keeping the name {VGG19_FILENAME}"):
        run("CLIPstylerStyleNetOptimize", torch.rand(1, 64, 64, 3), clip, target, **FAST)
