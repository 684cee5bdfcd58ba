"""Stylizing a masked region: the mask convention, feathering, compositing, patch sampling and the three entry points
(stylize, apply_stylenet, train_fast_stylenet). tests/nodes/test_mask_nodes.py checks the convention against
ComfyUI's own composite."""

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import clipstyler.optimize as optimize_module
from clipstyler.adain import FastStyleNet
from clipstyler.apply import apply_stylenet
from clipstyler.augment import sample_patch_params
from clipstyler.errors import CLIPstylerError, SettingError
from clipstyler.fast_settings import FastSettings
from clipstyler.fast_train import ImageOrder, sample_fast_batch, train_fast_stylenet
from clipstyler.mask import (
    as_mask_batch,
    feather_mask,
    fit_mask,
    patch_coverage,
    patch_positions,
    prepare_mask,
    training_crop_positions,
)
from clipstyler.objective import StyleObjective
from clipstyler.optimize import stylize, train_stylenet
from clipstyler.settings import StyleSettings
from clipstyler.stylenet import build_stylenet

SMALL = dict(steps=3, size=64, crop_size=32, num_crops=6)


def image(height=64, width=80, batch=1, seed=0):
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


def box_mask(height, width, top, bottom, left, right, batch=1):
    mask = torch.zeros(batch, height, width)
    mask[:, top:bottom, left:right] = 1
    return mask


# --- the convention --------------------------------------------------------------------------------------------


def test_fit_resizes_bilinearly_then_repeats_or_cuts_to_the_batch():
    mask = torch.tensor([[[0.0, 1.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]])  # 2 masks of 2x2
    fitted = fit_mask(mask, 5, 4, 4)
    assert fitted.shape == (5, 1, 4, 4)
    # bilinear, align_corners False: 2 -> 4 px samples at -0.25, 0.25, 0.75, 1.25 (edges clamped)
    assert fitted[0, 0, 0].tolist() == [0.0, 0.25, 0.75, 1.0]
    assert fitted[0, 0, 1].tolist() == [0.25, 0.375, 0.625, 0.75]
    for i in range(5):  # image i gets mask i % 2
        assert torch.equal(fitted[i], fitted[i % 2])
    assert torch.equal(fit_mask(mask, 1, 4, 4), fitted[:1])  # more masks than images: the first ones
    assert torch.equal(fit_mask(mask, 2, 2, 2)[:, 0], mask)  # at the image's size: unchanged


def test_a_2d_mask_is_one_mask_and_bool_and_uint8_are_read_as_such():
    assert as_mask_batch(torch.ones(3, 4)).shape == (1, 3, 4)
    assert as_mask_batch(torch.ones(1, 3, 4, dtype=torch.bool)).dtype == torch.float32
    assert as_mask_batch(torch.full((1, 2, 2), 255, dtype=torch.uint8)).max() == 1.0


@pytest.mark.parametrize("mask, message", [
    (torch.zeros(1, 1, 8, 8), r"\(batch, height, width\) or \(height, width\), got shape \(1, 1, 8, 8\): drop the "
                              r"channel dimension"),
    (torch.zeros(8), r"got shape \(8,\)"),
    (torch.zeros(0, 8, 8), "mask is empty"),
    (torch.tensor([[[0.5, float("nan")]]]), "NaN"),
    (torch.tensor([[[0.5, 2.0]]]), r"must lie in \[0, 1\] \(1 = stylize\), got \[0.5, 2\]$"),
    (torch.tensor([[[0.0, 255.0]]]), "divide 0-255 values by 255"),
    (torch.tensor([[[-0.5, 1.0]]]), r"got \[-0.5, 1\]"),
    (torch.zeros(1, 2, 2, dtype=torch.int32), "must be float"),
    ([[0.0, 1.0]], "must be a torch.Tensor"),
])
def test_bad_masks_are_errors_that_name_the_problem(mask, message):
    with pytest.raises(CLIPstylerError, match=message):
        as_mask_batch(mask)


@pytest.mark.parametrize("feather", [-1, 1.5, True])
def test_feather_must_be_whole_pixels(feather):
    with pytest.raises(CLIPstylerError, match="feather must be a whole number of pixels"):
        prepare_mask(torch.ones(4, 4), 1, 4, 4, feather)


# --- feathering ------------------------------------------------------------------------------------------------


def test_feather_ramps_inside_the_edge_and_leaves_the_outside_at_zero():
    mask = box_mask(12, 12, 0, 12, 6, 12)[:, None]  # right half, reaching three image borders
    soft = feather_mask(mask, 3)
    # d px inside the edge: min(d, 3) / 3; the image borders do not count as an edge
    assert torch.equal(soft[0, 0, 5], torch.tensor([0, 0, 0, 0, 0, 0, 1 / 3, 2 / 3, 1, 1, 1, 1]))
    assert torch.equal(soft[0, 0, 0], soft[0, 0, 11])
    assert torch.equal(soft[mask == 0], torch.zeros(int((mask == 0).sum())))
    assert torch.equal(feather_mask(torch.ones(1, 1, 9, 9), 5), torch.ones(1, 1, 9, 9))
    assert torch.equal(feather_mask(mask, 0), mask) and torch.equal(feather_mask(mask, 1), mask)


def test_feathered_soft_mask_never_exceeds_the_mask():
    mask = F.interpolate(torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(1)), size=(30, 30),
                         mode="bilinear")
    soft = feather_mask(mask, 7)
    assert (soft <= mask + 1e-6).all() and torch.equal(soft[mask == 0], mask[mask == 0])


# --- patches inside the mask -----------------------------------------------------------------------------------


def test_allowed_corners_are_those_with_at_least_half_the_crop_inside():
    mask = box_mask(8, 8, 0, 8, 0, 4)[:, None]  # left half
    positions = patch_positions(mask, 4)
    corners = {(int(f) // positions.columns, int(f) % positions.columns) for f in positions.flat}
    # a crop at left l holds 4 - l of the 4 masked columns: 2 of 4 (l = 2) is exactly half, and allowed
    assert corners == {(top, left) for top in range(5) for left in range(3)}
    coverage = patch_coverage(mask, 4)
    assert coverage[0, 0].tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]


def test_every_sampled_patch_is_at_least_half_inside_the_mask():
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(80.0), indexing="ij")
    disc = (((yy - 40) ** 2 + (xx - 30) ** 2) < 22**2).float()
    masks = torch.stack([disc, box_mask(64, 80, 0, 20, 0, 80)[0]])[:, None]  # a disc; a strip along the top
    positions = patch_positions(masks, 24)
    params = sample_patch_params(400, (64, 80), 24, 0.5, 2, torch.Generator().manual_seed(0), positions)
    inside = torch.stack([masks[b, 0, t:t + 24, left:left + 24].mean()
                          for b, t, left in zip(params.image_index, params.top, params.left)])
    assert (inside >= 0.5).all()
    assert len(set(zip(params.top.tolist(), params.left.tolist()))) > 100  # spread over the allowed corners
    strip = params.image_index == 1
    assert params.top[strip].max() <= 8 and params.top[strip].min() == 0  # 20 px strip: tops 0..8 allowed


def test_without_positions_the_draws_are_todays():
    """The unmasked path draws exactly as before masks existed: tops, then lefts, then the warps."""
    params = sample_patch_params(8, (48, 64), 16, 0.5, 1, torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    assert torch.equal(params.top, torch.randint(0, 33, (8,), generator=generator))
    assert torch.equal(params.left, torch.randint(0, 49, (8,), generator=generator))


def test_training_patches_stay_inside_the_mask(clip, vgg, target, monkeypatch):
    drawn = []
    real = optimize_module.sample_patch_params
    monkeypatch.setattr(optimize_module, "sample_patch_params", lambda *a: drawn.append(real(*a)) or drawn[-1])
    mask = box_mask(48, 64, 8, 40, 30, 64)[:, None]
    train_stylenet(image(48, 64), clip, vgg, target, StyleSettings(**SMALL), "cpu", mask=mask)
    assert len(drawn) == 3
    for params in drawn:
        for t, left in zip(params.top.tolist(), params.left.tolist()):
            assert mask[0, 0, t:t + 32, left:left + 32].mean() >= 0.5


def test_a_mask_too_small_for_any_patch_says_what_to_change(clip, vgg, target):
    mask = box_mask(64, 80, 10, 20, 10, 20)
    with pytest.raises(SettingError, match=r"the mask covers less than half of every crop_size \(32 px\) patch .*"
                                           "lower crop_size, raise size, or enlarge the mask"):
        stylize(image(), clip, vgg, target, StyleSettings(**SMALL), mask=mask)


# --- the objective looks at the composite ----------------------------------------------------------------------


def test_with_a_full_mask_the_objective_is_the_unmasked_one(clip, vgg, target):
    settings = StyleSettings(**SMALL)
    content = image(48, 64)
    params = sample_patch_params(6, (48, 64), 32, 0.5, 1, torch.Generator().manual_seed(0))
    output = build_stylenet(seed=0)(content)
    plain = StyleObjective(clip, vgg, target, content, settings).terms(output, params)
    full = StyleObjective(clip, vgg, target, content, settings, mask=torch.ones(1, 1, 48, 64)).terms(output, params)
    assert all(torch.equal(plain[name], full[name]) for name in plain)


def test_global_view_and_content_loss_ignore_the_output_outside_the_mask(clip, vgg, target):
    settings = StyleSettings(**SMALL)
    content, mask = image(48, 64), box_mask(48, 64, 8, 40, 30, 64)[:, None]
    objective = StyleObjective(clip, vgg, target, content, settings, mask=mask)
    params = sample_patch_params(6, (48, 64), 32, 0.5, 1, torch.Generator().manual_seed(0))
    output = image(48, 64, seed=1)
    changed = torch.where(mask.bool(), output, image(48, 64, seed=2))  # other pixels outside the mask only
    a, b = objective.terms(output, params), objective.terms(changed, params)
    assert torch.equal(a["dir"], b["dir"]) and torch.equal(a["content"], b["content"])
    assert not torch.equal(a["tv"], b["tv"])
    # where the output equals the content inside the mask, the content loss is zero
    same = torch.where(mask.bool(), content, output)
    assert objective.terms(same, params)["content"] == 0


# --- stylize ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("feather", [0, 6])
def test_outside_the_mask_the_input_is_kept_bit_for_bit(clip, vgg, target, feather):
    """72x100 is processed at 48x64: the composite must use the original input, not a resized copy."""
    images = image(72, 100)
    mask = box_mask(18, 25, 4, 14, 10, 25)  # a quarter-resolution mask, resized to the image
    result = stylize(images, clip, vgg, target, StyleSettings(**SMALL), mask=mask, feather=feather)
    fitted = fit_mask(mask, 1, 72, 100)
    outside = (fitted == 0).expand_as(images)
    assert torch.equal(result.images[outside], images[outside])  # within 1/255, and in fact exactly
    inside = (prepare_mask(mask, 1, 72, 100, feather) == 1).expand_as(images)
    assert (result.images[inside] - images[inside]).abs().max() > 0.05  # and the region is stylized


def test_the_preview_shows_the_composite(clip, vgg, target):
    reports = []
    images, mask = image(48, 64), box_mask(48, 64, 0, 48, 32, 64)
    stylize(images, clip, vgg, target, StyleSettings(**SMALL), callback=reports.append, mask=mask)
    assert torch.equal(reports[-1].image[..., :32], images[..., :32])


def test_an_all_zero_mask_passes_the_image_through_with_a_warning(clip, vgg, target, caplog):
    reports, images = [], image()
    with caplog.at_level(logging.WARNING):
        result = stylize(images, clip, vgg, target, StyleSettings(**SMALL), callback=reports.append,
                         mask=torch.zeros(1, 64, 64))
    assert torch.equal(result.images, images) and reports == [] and result.losses == {}
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "zero everywhere" in record.getMessage() and "all-zero 64x64 mask" in record.getMessage()


def test_per_image_mode_skips_images_whose_mask_is_empty(clip, vgg, target, caplog):
    images = image(batch=3)
    mask = torch.stack([box_mask(64, 80, 0, 64, 40, 80)[0], torch.zeros(64, 80), box_mask(64, 80, 0, 40, 0, 80)[0]])
    runs = []
    with caplog.at_level(logging.WARNING):
        result = stylize(images, clip, vgg, target, StyleSettings(**SMALL), callback=lambda r: runs.append(r.run),
                         mask=mask)
    assert runs == [0, 0, 0, 2, 2, 2]
    assert torch.equal(result.images[1], images[1])
    assert "image(s) 2 is zero everywhere" in caplog.text
    outside = (mask == 0)[:, None].expand_as(images)
    assert torch.equal(result.images[outside], images[outside])


def test_shared_mode_trains_on_the_images_that_hold_a_patch(clip, vgg, target, caplog):
    images = image(batch=2)
    mask = torch.stack([box_mask(64, 80, 0, 64, 40, 80)[0], box_mask(64, 80, 0, 10, 0, 10)[0]])
    with caplog.at_level(logging.WARNING):
        result = stylize(images, clip, vgg, target, StyleSettings(**SMALL, images_per_step=2), shared=True,
                         mask=mask)
    assert "image(s) 2 covers less than half of every 32 px patch: left out of training" in caplog.text
    outside = (mask == 0)[:, None].expand_as(images)
    assert torch.equal(result.images[outside], images[outside])
    assert not torch.equal(result.images[1, :, :10, :10], images[1, :, :10, :10])  # still stylized in its mask


# --- the fast mode ---------------------------------------------------------------------------------------------


def test_apply_composites_each_frame_over_itself_with_the_mask_repeated():
    frames = image(32, 40, batch=3)
    masks = torch.stack([box_mask(8, 10, 0, 8, 5, 10)[0], box_mask(8, 10, 0, 4, 0, 10)[0]])  # at 1/4 resolution
    out = apply_stylenet(build_stylenet(seed=0), frames, chunk_size=2, mask=masks, feather=2)
    fitted = fit_mask(masks, 3, 32, 40)
    assert torch.equal(fitted[2], fitted[0])
    outside = (fitted == 0).expand_as(frames)
    assert torch.equal(out[outside], frames[outside])
    plain = apply_stylenet(build_stylenet(seed=0), frames, chunk_size=2)
    full = (prepare_mask(masks, 3, 32, 40, 2) == 1).expand_as(frames)
    assert torch.equal(out[full], plain[full])


def test_apply_with_an_all_zero_mask_returns_the_frames_without_running_the_net(caplog):
    class Exploding(torch.nn.Module):
        def forward(self, x):
            raise AssertionError("the net ran")

    frames, done = image(16, 16, batch=2), []
    with caplog.at_level(logging.WARNING):
        out = apply_stylenet(Exploding(), frames, mask=torch.zeros(64, 64), on_chunk=lambda d, t: done.append(d))
    assert torch.equal(out, frames) and done == [2] and "zero everywhere" in caplog.text


def test_fast_crops_are_drawn_at_least_half_inside_the_mask():
    frames = image(48, 64, batch=2)
    mask = torch.stack([box_mask(48, 64, 0, 48, 40, 64)[0], box_mask(48, 64, 30, 48, 0, 64)[0]])
    settings = FastSettings(crop_size=24, batch_size=4)
    kept, positions = training_crop_positions(frames, mask, 0, (48, 64), 24)
    generator = torch.Generator().manual_seed(0)
    order = ImageOrder(2, generator)
    for _ in range(50):
        batch = sample_fast_batch(order, [(48, 64)] * 2, settings, generator, positions)
        for i, t, left in zip(batch.index.tolist(), batch.top.tolist(), batch.left.tolist()):
            assert mask[kept[i], t:t + 24, left:left + 24].mean() >= 0.5


def test_fast_training_with_a_mask_leaves_out_frames_without_a_crop_and_refuses_an_empty_one(clip, target, caplog):
    frames = image(40, 48, batch=3)
    mask = torch.stack([box_mask(40, 48, 0, 40, 20, 48)[0], torch.zeros(40, 48), box_mask(40, 48, 0, 40, 0, 28)[0]])
    settings = FastSettings(steps=2, batch_size=2, crop_size=32, num_views=2)
    torch.manual_seed(0)
    start = FastStyleNet()
    with caplog.at_level(logging.WARNING):
        net, losses = train_fast_stylenet(frames, clip, target, start, settings, mask=mask)
    assert "1 of 3 training images have no 32 px crop at least half inside the mask" in caplog.text
    assert set(losses) >= {"total", "patch"}
    with pytest.raises(CLIPstylerError, match="the mask is zero everywhere: there is nothing to train on"):
        train_fast_stylenet(frames, clip, target, start, settings, mask=torch.zeros(64, 64))
    with pytest.raises(CLIPstylerError, match="as one \\(N, 3, H, W\\) batch"):
        train_fast_stylenet(list(frames), clip, target, start, settings, mask=mask)


# --- the command line ------------------------------------------------------------------------------------------


def test_cli_stylize_and_apply_with_a_mask_file(tmp_path, tiny_clip_file, vgg_file):
    from PIL import Image

    from clipstyler.cli import main

    photo, mask_file = tmp_path / "in.png", tmp_path / "mask.png"
    pixels = torch.rand(60, 90, 3, generator=torch.Generator().manual_seed(0))
    Image.fromarray((pixels * 255).round().byte().numpy()).save(photo)
    mask = Image.new("L", (90, 60), 0)
    mask.paste(255, (0, 0, 45, 60))  # white on the left half: stylize there
    mask.save(mask_file)
    out, style = tmp_path / "out.png", tmp_path / "style.safetensors"
    args = ["--steps", "2", "--size", "64", "--crop-size", "32", "--crops", "4", "--device", "cpu"]
    assert main(["stylize", str(photo), "white wool", "-o", str(out), "--clip", tiny_clip_file, "--vgg", vgg_file,
                 "--mask", str(mask_file), "--invert-mask", "--save-stylenet", str(style), *args]) == 0

    def read(path):
        return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).int()

    source, result = read(photo), read(out)
    assert torch.equal(result[:, :45], source[:, :45])  # inverted: the left half is kept, as 8-bit values
    assert (result[:, 45:] - source[:, 45:]).abs().max() > 10
    frames = tmp_path / "frames"
    assert main(["apply", str(style), str(photo), "-o", str(frames), "--device", "cpu", "--mask", str(mask_file),
                 "--feather", "3"]) == 0
    applied = read(frames / "in.png")
    assert torch.equal(applied[:, 45:], source[:, 45:]) and not torch.equal(applied[:, :45], source[:, :45])
