"""The mask input of StyleNet Optimize, Train Fast StyleNet and Fast Style Apply in a real ComfyUI's Python API: where
the inputs sit (saved workflows keep their widget values), ComfyUI's own composite convention, and what each node
does with a region mask and with the all-zero mask Load Image gives for an image without alpha."""

import ast
import importlib
import logging
import os
import shutil

import comfy_env
import pytest
import torch

COMFYUI = comfy_env.require_comfyui()
pack = comfy_env.load_pack()

import comfy.utils  # noqa: E402  (importable once the pack found ComfyUI)
from comfy_api.latest import io  # noqa: E402

N = pack.nodes.NODE_CLASS_MAPPINGS
MASKED = ("CLIPstylerStyleNetOptimize", "CLIPstylerTrainFastStyleNet", "CLIPstylerFastStyleApply")
adain = importlib.import_module(f"{comfy_env.PACK_MODULE}.clipstyler.adain")
mask_module = importlib.import_module(f"{comfy_env.PACK_MODULE}.clipstyler.mask")
CLIPstylerError = importlib.import_module(f"{comfy_env.PACK_MODULE}.clipstyler.errors").CLIPstylerError
VGG19_FILENAME = importlib.import_module(f"{comfy_env.PACK_MODULE}.clipstyler.vgg").VGG19_FILENAME
OPTIMIZE = dict(steps=3, size=64, crop_size=32, num_crops=4, preview_every=1)
FAST = dict(steps=2, batch_size=2, crop_size=32, num_views=2, preview_every=1)


def comfyui_composite():
    """core's composite() from comfy_extras/nodes_mask.py, its own code (that module imports ComfyUI's `nodes`,
    which the pack's tests cannot import beside the pack's own `nodes` folder)."""
    path = os.path.join(COMFYUI, "comfy_extras", "nodes_mask.py")
    tree = ast.parse(open(path).read())
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "composite")
    namespace = {"torch": torch, "comfy": comfy}
    exec(compile(ast.Module([function], type_ignores=[]), path, "exec"), namespace)
    return namespace["composite"]


@pytest.fixture
def models_dir(tmp_path, monkeypatch, tiny_clip_file, vgg_file):
    comfy_env.move_model_folders(tmp_path, monkeypatch)
    for folder, source, name in (("clip", tiny_clip_file, "tiny_clip.safetensors"), ("vgg", vgg_file, VGG19_FILENAME)):
        (tmp_path / folder).mkdir()
        shutil.copy(source, tmp_path / folder / name)
    (tmp_path / "adain").mkdir()
    torch.manual_seed(0)
    torch.save(adain.full_normalised_vgg().state_dict(), tmp_path / "adain" / adain.ENCODER_FILENAME)
    torch.save(adain.build_decoder().state_dict(), tmp_path / "adain" / adain.DECODER_FILENAME)
    importlib.import_module(f"{comfy_env.PACK_MODULE}.nodes.models")._vgg_cache.clear()
    return tmp_path


def outputs(node_id, *args, **kwargs):
    clone = N[node_id].PREPARE_CLASS_CLONE({io.Hidden.unique_id: "5"})
    with torch.inference_mode():  # as ComfyUI's executor runs nodes: the mask, too, is an inference tensor
        return clone.EXECUTE_NORMALIZED(*args, **kwargs).result


def clip_and_target():
    (clip,) = outputs("CLIPstylerLoadCLIP", "tiny_clip.safetensors", "auto")
    (target,) = outputs("CLIPstylerTextStyleTarget", clip, "white wool", "a Photo")
    return clip, target


def subject_mask(batch=1, height=64, width=80):
    """1 on the background, 0 on a centred subject: Invert Mask of what Load Image reads from a cut-out's alpha."""
    with torch.inference_mode():
        mask = torch.ones(batch, height, width)
        mask[:, height // 4:3 * height // 4, width // 4:3 * width // 4] = 0
    return mask


@pytest.mark.parametrize("node_id", MASKED)
def test_mask_and_feather_are_optional_and_come_after_every_earlier_input(node_id):
    """Only settings added after them follow (optional widgets), so saved workflows keep feather's value."""
    spec = N[node_id].INPUT_TYPES()
    names = [*spec["required"], *spec.get("optional", {})]
    later = {"CLIPstylerTrainFastStyleNet": ["temporal_crops"]}.get(node_id, [])
    assert names[len(names) - len(later) - 2:] == ["mask", "feather", *later]
    assert all(name in spec["optional"] for name in later)
    assert "mask" not in spec["required"] and "feather" not in spec["required"]
    mask, feather = spec["optional"]["mask"], spec["optional"]["feather"]
    assert mask[0] == "MASK"
    assert feather[0] == "INT" and feather[1]["default"] == 0 and feather[1]["min"] == 0
    assert "1 = stylize" in mask[1]["tooltip"] and "all-zero 64x64 mask" in mask[1]["tooltip"]
    assert "Invert Mask" in mask[1]["tooltip"] and "outside it stay exactly" in feather[1]["tooltip"]


@pytest.mark.parametrize("mask_shape, batch", [((2, 5, 7), 3), ((4, 30, 20), 2), ((30, 20), 1), ((1, 9, 9), 2)])
def test_the_library_composites_as_comfyuis_composite_does(mask_shape, batch):
    generator = torch.Generator().manual_seed(0)
    content, stylized = torch.rand(2, batch, 3, 30, 20, generator=generator)
    mask = torch.rand(mask_shape, generator=generator)
    expected = comfyui_composite()(content.clone(), stylized, 0, 0, mask, 1, False)
    ours = mask_module.composite(stylized, content, mask_module.prepare_mask(mask, batch, 30, 20))
    assert torch.equal(ours, expected)


def test_optimize_styles_the_background_and_keeps_the_subject_bit_for_bit(models_dir):
    clip, target = clip_and_target()
    image, mask = torch.rand(1, 64, 80, 3), subject_mask()
    for feather in (0, 4):
        stylized, style = outputs("CLIPstylerStyleNetOptimize", image, clip, target, mask=mask, feather=feather,
                                  **OPTIMIZE)
        subject = (mask == 0)[..., None].expand_as(image)
        assert torch.equal(stylized[subject], image[subject])
        assert (stylized[~subject] - image[~subject]).abs().max() > 0.05
        assert style.stylenet is not None
    # the paper's display look, too, only inside the mask
    shown, _ = outputs("CLIPstylerStyleNetOptimize", image, clip, target, mask=mask, paper_display=True, **OPTIMIZE)
    assert torch.equal(shown[subject], image[subject])


def test_optimize_with_load_images_mask_of_an_image_without_alpha_passes_it_through(models_dir, caplog):
    clip, target = clip_and_target()
    image = torch.rand(2, 64, 80, 3)
    with torch.inference_mode():
        no_alpha = torch.zeros(1, 64, 64)  # what Load Image gives for an image without alpha
    with caplog.at_level(logging.WARNING):
        (stylized, _) = outputs("CLIPstylerStyleNetOptimize", image, clip, target, mask=no_alpha, **OPTIMIZE)
    assert torch.equal(stylized, image)
    assert "zero everywhere" in caplog.text and "invert it (Invert Mask)" in caplog.text


def test_bad_masks_are_refused_before_any_model_loads(models_dir):
    clip, target = clip_and_target()
    for node_id, args, kwargs in (("CLIPstylerStyleNetOptimize", (torch.rand(1, 64, 64, 3), clip, target), OPTIMIZE),
                                  ("CLIPstylerTrainFastStyleNet", (torch.rand(1, 64, 64, 3), clip, target), FAST)):
        with pytest.raises(CLIPstylerError, match=r"mask values must lie in \[0, 1\]"):
            outputs(node_id, *args, mask=torch.full((1, 64, 64), 2.0), **kwargs)
        with pytest.raises(CLIPstylerError, match="feather must be a whole number"):
            outputs(node_id, *args, mask=torch.ones(1, 64, 64), feather=-2, **kwargs)


def test_fast_train_and_apply_with_a_mask(models_dir, caplog):
    clip, target = clip_and_target()
    frames = torch.rand(3, 48, 56, 3)
    mask = subject_mask(1, 12, 14)  # a low-resolution mask, resized to the frames and repeated over them
    (style,) = outputs("CLIPstylerTrainFastStyleNet", frames, clip, target, mask=mask, **FAST)
    (applied,) = outputs("CLIPstylerFastStyleApply", style, frames, mask=mask, feather=3)
    (plain,) = outputs("CLIPstylerFastStyleApply", style, frames)
    fitted = mask_module.fit_mask(mask, 3, 48, 56)[:, 0, :, :, None].expand_as(frames)
    assert torch.equal(applied[fitted == 0], frames[fitted == 0])
    full = mask_module.prepare_mask(mask, 3, 48, 56, 3)[:, 0, :, :, None].expand_as(frames) == 1
    assert torch.equal(applied[full], plain[full])
    with torch.inference_mode():
        no_alpha = torch.zeros(1, 64, 64)
    with caplog.at_level(logging.WARNING):
        (same,) = outputs("CLIPstylerFastStyleApply", style, frames, mask=no_alpha)
    assert torch.equal(same, frames) and "zero everywhere" in caplog.text
    with pytest.raises(CLIPstylerError, match="nothing to train on"):
        outputs("CLIPstylerTrainFastStyleNet", frames, clip, target, mask=no_alpha, **FAST)
