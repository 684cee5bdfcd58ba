import pytest
import torch

import clipstyler.optimize as optimize
from clipstyler.errors import CLIPstylerError
from clipstyler.optimize import learning_rate, stylize, train_stylenet, uses_channels_last
from clipstyler.settings import StyleSettings


def content(height=64, width=64, batch=1, seed=0):
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


# (term, the other CLIP term's weight, switched off, and the largest ratio of its last to its first steps' mean)
CLIP_TERMS = [("patch", "lambda_dir", 0.9), ("dir", "lambda_patch", 0.6)]


@pytest.mark.parametrize("term, other, ratio", CLIP_TERMS, ids=[term for term, _, _ in CLIP_TERMS])
def test_total_loss_falls_and_so_does_each_clip_term(clip, vgg, target, term, other, ratio):
    """Each CLIP term falls through its own gradient, not just the content and TV terms (which stay on with the
    reference's weights): the other CLIP term is off, so it cannot pull this one along.

    Unwarped crops (distortion 0): with a random tiny CLIP a warped crop's embedding is dominated by the warp's black
    fill and the patch term hardly moves. Measured with these settings, the last 3 steps' mean over the first 3's:
    at seed 0, patch 0.33 and global 0.18, and 1.01 and 1.02 with the term's own gradient cut. Over seeds 0-7:
    0.00-0.81 and 0.18-0.25; cut, 0.95-1.01 and 0.94-1.04, except seed 4 (0.84 and 0.83), where the patch term
    hardly falls even with its gradient (0.81).
    """
    history = []
    settings = StyleSettings(steps=20, size=32, crop_size=24, num_crops=8, distortion=0.0, lr=5e-3, **{other: 0.0})
    train_stylenet(content(32, 32), clip, vgg, target, settings, "cpu",
                   callback=lambda report: history.append({k: float(v) for k, v in report.losses.items()}))
    assert len(history) == 20

    def mean(name, steps):
        return sum(losses[name] for losses in steps) / len(steps)

    first, last = history[:3], history[-3:]
    assert mean("total", last) < mean("total", first)
    assert mean(term, last) < ratio * mean(term, first)


def test_keeps_shape_and_range_and_reports_every_step(clip, vgg, target, small_settings):
    reports = []
    result = stylize(content(72, 100), clip, vgg, target, small_settings, "cpu", callback=reports.append)
    assert result.images.shape == (1, 3, 72, 100)
    assert 0.0 <= result.images.min() and result.images.max() <= 1.0
    assert [r.step for r in reports] == [1, 2, 3]
    # working size: long side 64, aspect kept, multiples of 8
    assert reports[0].image.shape == (1, 3, 48, 64)
    assert set(result.losses) == {"total", "patch", "dir", "content", "tv"}


def test_same_seed_same_result_and_other_seed_differs(clip, vgg, target, small_settings):
    a = stylize(content(), clip, vgg, target, small_settings, "cpu").images
    b = stylize(content(), clip, vgg, target, small_settings, "cpu").images
    c = stylize(content(), clip, vgg, target, StyleSettings(**{**small_settings.to_dict(), "seed": 1}), "cpu").images
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_per_image_mode_trains_one_net_per_image(clip, vgg, target, small_settings):
    reports = []
    result = stylize(content(batch=2), clip, vgg, target, small_settings, "cpu", callback=reports.append)
    assert result.images.shape == (2, 3, 64, 64)
    assert [(r.run, r.step) for r in reports] == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]
    # the second image's result equals stylizing it alone (a fresh StyleNet with the same seed)
    alone = stylize(content(batch=2)[1:], clip, vgg, target, small_settings, "cpu").images
    assert torch.allclose(result.images[1:], alone, atol=1e-6)


def test_shared_mode_trains_one_net_across_the_batch(clip, vgg, target):
    reports = []
    settings = StyleSettings(steps=4, size=64, crop_size=32, num_crops=6, images_per_step=2)
    result = stylize(content(batch=3), clip, vgg, target, settings, "cpu", shared=True, callback=reports.append)
    assert result.images.shape == (3, 3, 64, 64)
    assert [r.image.shape[0] for r in reports] == [2, 2, 2, 2]
    with torch.no_grad():
        again = result.stylenet(content(batch=3))
    assert torch.allclose(result.images, again, atol=1e-5)


def test_reference_lr_schedule():
    s = StyleSettings()
    lrs = [learning_rate(i, s) for i in range(201)]
    # scheduler.step() before optimizer.step(): 99 updates at 5e-4, 100 at 2.5e-4, then 1.25e-4
    assert lrs.count(5e-4) == 99 and lrs.count(2.5e-4) == 100 and lrs[199:] == [1.25e-4, 1.25e-4]
    textbook = StyleSettings(reference_lr_schedule=False)
    assert [learning_rate(i, textbook) for i in (0, 99, 100, 199, 200)] == [5e-4, 5e-4, 2.5e-4, 2.5e-4, 1.25e-4]


def test_image_smaller_than_crop_is_a_clear_error(clip, vgg, target):
    settings = StyleSettings(steps=1, size=64, crop_size=128)
    with pytest.raises(CLIPstylerError, match="at least 128 px .crop_size 128.*lower crop_size to 64 or less"):
        stylize(content(), clip, vgg, target, settings, "cpu")


def test_wide_panorama_too_thin_for_crops(clip, vgg, target):
    settings = StyleSettings(steps=1, size=512, crop_size=128)
    with pytest.raises(CLIPstylerError, match=r"512x96 px"):
        stylize(content(20, 107), clip, vgg, target, settings, "cpu")


def test_non_rgb_is_a_clear_error(clip, vgg, target, small_settings):
    with pytest.raises(CLIPstylerError, match="3, height, width"):
        stylize(torch.rand(1, 4, 64, 64), clip, vgg, target, small_settings, "cpu")


def test_callback_exception_stops_the_run(clip, vgg, target):
    class Cancelled(Exception):
        pass

    seen = []

    def cancel_at_two(report):
        seen.append(report.step)
        if report.step == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        stylize(content(), clip, vgg, target, StyleSettings(steps=50, size=64, crop_size=32, num_crops=4), "cpu",
                callback=cancel_at_two)
    assert seen == [1, 2]


def test_two_runs_with_the_same_seed_are_bit_identical_on_the_cpu(clip, vgg, target):
    """The README's reproducibility claim: same image, settings, seed, device and thread count."""
    settings = StyleSettings(steps=4, size=96, crop_size=64, num_crops=8, crop_batch=4)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        runs = [stylize(content(96, 96), clip, vgg, target, settings, "cpu") for _ in range(2)]
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(runs[0].images, runs[1].images)
    for a, b in zip(runs[0].stylenet.state_dict().values(), runs[1].stylenet.state_dict().values()):
        assert torch.equal(a, b)


def test_models_loaded_under_inference_mode_train_and_are_left_as_they_were(tiny_clip_file, vgg_file, target):
    """ComfyUI loads models inside torch.inference_mode; the loaders still give ordinary weights, and optimising
    neither needs nor makes changes to the caller's models."""
    from clipstyler.clip.loading import load_clip_file
    from clipstyler.vgg import load_vgg19

    with torch.inference_mode():
        clip, vgg = load_clip_file(tiny_clip_file), load_vgg19(vgg_file)
    weights = [*clip.model.parameters(), *vgg.parameters()]
    assert not any(w.is_inference() for w in weights)
    before = [(w, w.detach().clone()) for w in weights]
    stylize(content(), clip, vgg, target, StyleSettings(steps=2, size=64, crop_size=32, num_crops=4), "cpu")
    after = [*clip.model.parameters(), *vgg.parameters()]
    assert len(after) == len(before) and all(w is a for (w, _), a in zip(before, after))  # the same tensors
    assert all(torch.equal(w, copy) for w, copy in before)


@pytest.mark.parametrize("precision, conv_dtype, nhwc",
                         [("fp32", torch.float32, False), ("bf16", torch.bfloat16, True)])
def test_stylenet_trains_in_bf16_with_float32_weights_and_images(clip, vgg, target, monkeypatch, precision,
                                                                 conv_dtype, nhwc):
    """bf16 runs StyleNet's convolutions in bf16 too (clipstyler/precision.py, stylenet_autocast), in NHWC on a CPU;
    its weights, its gradients and every image the losses and the preview see stay float32."""
    seen, build = [], optimize.build_stylenet

    def recording_stylenet(*args, **kwargs):
        net = build(*args, **kwargs)
        net.conv_fin.register_forward_hook(lambda module, inputs, output: seen.append(
            (output.dtype, output.is_contiguous(memory_format=torch.channels_last) and not output.is_contiguous())))
        return net

    monkeypatch.setattr(optimize, "build_stylenet", recording_stylenet)
    previews = []
    settings = StyleSettings(steps=2, size=32, crop_size=24, num_crops=2, precision=precision)
    net, losses = train_stylenet(content(32, 32), clip, vgg, target, settings, "cpu",
                                 callback=lambda report: previews.append(report.image.dtype))
    assert seen == [(conv_dtype, nhwc)] * 2 and previews == [torch.float32, torch.float32]
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in net.parameters())
    assert all(torch.isfinite(value) for value in losses.values())


@pytest.mark.parametrize("setting, precision, device, expected", [
    (False, "fp32", "cpu", False), (True, "fp32", "cpu", True), (False, "bf16", "cpu", True),
    (False, "bf16", "cuda", False), (False, "fp16", "cuda", False), (True, "bf16", "cuda", True),
])
def test_nhwc_where_asked_and_for_bf16_on_a_cpu(setting, precision, device, expected):
    settings = StyleSettings(channels_last=setting)
    assert uses_channels_last(settings, precision, torch.device(device)) is expected
