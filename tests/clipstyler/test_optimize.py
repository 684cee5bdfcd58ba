import pytest
import torch

from clipstyler.errors import CLIPstylerError
from clipstyler.optimize import learning_rate, stylize, train_stylenet
from clipstyler.settings import StyleSettings


def content(height=64, width=64, batch=1, seed=0):
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


def test_total_loss_falls(clip, vgg, target):
    history = []
    settings = StyleSettings(steps=12, size=64, crop_size=32, num_crops=8, lr=2e-3)
    train_stylenet(content(), clip, vgg, target, settings, "cpu",
                   callback=lambda report: history.append(float(report.losses["total"])))
    assert len(history) == 12
    assert sum(history[-3:]) / 3 < sum(history[:3]) / 3


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
