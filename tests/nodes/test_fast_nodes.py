"""The fast mode's nodes in a real ComfyUI's Python API: Train Fast StyleNet from models/adain, Fast Style Apply,
Save/Load StyleNet (also the authors' released decoders) and Interpolate StyleNets."""

import importlib
import os
import shutil

import comfy_env
import pytest
import torch

comfy_env.require_comfyui()
pack = comfy_env.load_pack()

from comfy_api.latest import io  # noqa: E402

N = pack.nodes.NODE_CLASS_MAPPINGS
adain = importlib.import_module(f"{comfy_env.PACK_MODULE}.clipstyler.adain")
errors = importlib.import_module(f"{comfy_env.PACK_MODULE}.clipstyler.errors")
progress_module = importlib.import_module(f"{comfy_env.PACK_MODULE}.nodes.progress")
FAST = dict(steps=2, batch_size=2, crop_size=32, num_views=2, preview_every=1)


@pytest.fixture
def models_dir(tmp_path, monkeypatch, tiny_clip_file):
    comfy_env.move_model_folders(tmp_path, monkeypatch)
    (tmp_path / "clip").mkdir()
    shutil.copy(tiny_clip_file, tmp_path / "clip" / "tiny_clip.safetensors")
    (tmp_path / "adain").mkdir()
    torch.manual_seed(0)
    torch.save(adain.full_normalised_vgg().state_dict(), tmp_path / "adain" / adain.ENCODER_FILENAME)
    torch.save(adain.build_decoder().state_dict(), tmp_path / "adain" / adain.DECODER_FILENAME)
    return tmp_path


def outputs(node_id, *args, **kwargs):
    clone = N[node_id].PREPARE_CLASS_CLONE({io.Hidden.unique_id: "9"})
    with torch.inference_mode():
        return clone.EXECUTE_NORMALIZED(*args, **kwargs).result


def clip_and_target(text):
    (clip,) = outputs("CLIPstylerLoadCLIP", "tiny_clip.safetensors", "auto")
    (target,) = outputs("CLIPstylerTextStyleTarget", clip, text, "a Photo")
    return clip, target


def test_train_fast_save_load_apply_interpolate(models_dir, monkeypatch):
    updates = []
    monkeypatch.setattr(progress_module.ProgressBar, "update_absolute",
                        lambda self, value, total=None, preview=None: updates.append((value, preview is not None)))
    frames = torch.rand(3, 40, 48, 3)
    clip, stone = clip_and_target("stone wall")
    (style_a,) = outputs("CLIPstylerTrainFastStyleNet", frames, clip, stone, **FAST)
    assert updates == [(1, True), (2, True)]
    assert style_a.kind == "adain" and style_a.style_text == "stone wall" and style_a.start.startswith("sha256:")
    assert next(style_a.stylenet.parameters()).device.type == "cpu"
    _, sand = clip_and_target("desert sand")
    (style_b,) = outputs("CLIPstylerTrainFastStyleNet", frames, clip, sand, **{**FAST, "seed": 1})

    (applied,) = outputs("CLIPstylerFastStyleApply", style_a, torch.rand(2, 37, 53, 3))  # any size
    assert applied.shape == (2, 37, 53, 3) and 0 <= applied.min() and applied.max() <= 1

    (name,) = outputs("CLIPstylerSaveStyleNet", style_a, "stone")
    loaded, text = outputs("CLIPstylerLoadStyleNet", name)
    assert text == "stone wall" and loaded.kind == "adain"

    image = torch.rand(1, 32, 40, 3)
    animation, blended = outputs("CLIPstylerInterpolateStyleNets", loaded, style_b, image, "0, 0.5, 1")
    assert animation.shape == (3, 32, 40, 3)
    (end_a,) = outputs("CLIPstylerFastStyleApply", style_a, image)
    (end_b,) = outputs("CLIPstylerFastStyleApply", style_b, image)
    assert torch.equal(animation[0], end_a[0]) and torch.equal(animation[2], end_b[0])
    (again,) = outputs("CLIPstylerFastStyleApply", blended, image)
    assert torch.equal(again[0], animation[2])  # the stylenet output is the blend at the last weight


def test_released_decoder_loads_from_the_styles_folder(models_dir):
    (models_dir / "clipstyler").mkdir()
    torch.manual_seed(3)
    torch.save(adain.build_decoder().state_dict(), models_dir / "clipstyler" / "clip_decoder_desert_sand.pth.tar")
    options = N["CLIPstylerLoadStyleNet"].INPUT_TYPES()["required"]["stylenet_name"][1]["options"]
    assert "clip_decoder_desert_sand.pth.tar" in options
    style, text = outputs("CLIPstylerLoadStyleNet", "clip_decoder_desert_sand.pth.tar")
    assert text == "desert sand" and style.kind == "adain"


def test_missing_adain_weights_say_where_comfyui_wants_them(models_dir, monkeypatch):
    os.remove(models_dir / "adain" / adain.DECODER_FILENAME)
    monkeypatch.setenv("HTTPS_PROXY", "")
    weights = importlib.import_module(f"{comfy_env.PACK_MODULE}.clipstyler.adain_weights")
    monkeypatch.setattr(weights, "unreachable_reason", lambda url: "cannot resolve github.com; is this machine "
                        "offline?")
    models = importlib.import_module(f"{comfy_env.PACK_MODULE}.nodes.models")
    monkeypatch.setattr(models, "download_adain_file", weights.download_adain_file)
    clip, target = clip_and_target("fire")
    with pytest.raises(errors.CLIPstylerError) as caught:
        outputs("CLIPstylerTrainFastStyleNet", torch.rand(1, 40, 40, 3), clip, target, **FAST)
    message = str(caught.value)
    assert "decoder.pth" in message and str(models_dir / "adain") in message and "github.com" in message


def test_bad_weights_are_refused_before_running():
    message = N["CLIPstylerInterpolateStyleNets"].validate_inputs(weights="0, 2")
    assert isinstance(message, str) and "[0, 1]" in message
    assert N["CLIPstylerInterpolateStyleNets"].validate_inputs(weights="0, 1") is True


def test_temporal_settings_are_optional_advanced_inputs_and_reach_the_training(models_dir, monkeypatch):
    """Added after workflows were saved: optional, so old workflows and API prompts still run (term off)."""
    schema = N["CLIPstylerTrainFastStyleNet"].INPUT_TYPES()
    later = ["lambda_temporal", "temporal_motion", "temporal_noise"]
    optional = list(schema["optional"])
    assert optional[-3:] == ["mask", "feather", "temporal_crops"]  # after feather: test_mask_nodes
    assert optional[-6:-3] == later and not set(later) & set(schema["required"])
    assert all(schema["optional"][name][1]["advanced"] for name in [*later, "temporal_crops"])
    fast_node = importlib.import_module(f"{comfy_env.PACK_MODULE}.nodes.fast_train")
    seen, train = [], fast_node.train_fast_stylenet

    def recording(*args):
        net, losses = train(*args)
        seen.append(losses)
        return net, losses

    monkeypatch.setattr(fast_node, "train_fast_stylenet", recording)
    clip, target = clip_and_target("fire")
    outputs("CLIPstylerTrainFastStyleNet", torch.rand(2, 40, 40, 3), clip, target,
            **{**FAST, "steps": 1, "lambda_temporal": 5.0})
    assert seen[0]["temporal"] > 0
