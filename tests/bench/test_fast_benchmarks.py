"""The fast mode's benchmarks run end to end at a tiny size and report what RESULTS.md quotes."""

import math

import pytest
import torch

from bench import apply, fast, precision_ab, temporal_cost
from bench.__main__ import parse_args


def test_apply_times_the_adain_net_too():
    result = apply.run(parse_args(["apply", "--kind", "adain", "--size", "24", "--frames", "2"]))
    assert result["kind"] == "adain" and result["frames"] == 2 and result["frames_per_s"] > 0
    assert result["frame_hw"] == [24, 24]


def test_fast_training_reports_seconds_per_iteration():
    result = fast.run(parse_args(["fast", "--steps", "2", "--batch", "2", "--crop-size", "16", "--views", "1",
                                  "--size", "32", "--frames", "2", "--clip", "RN50"]))
    assert result["steps"] == 2 and len(result["step_s"]) == 2 and result["s_per_step"] > 0
    assert (result["batch"], result["crop_size"], result["views"]) == (2, 16, 1)


def test_psnr():
    a = torch.zeros(1, 3, 4, 4)
    assert precision_ab.psnr(a, a) == math.inf
    assert precision_ab.psnr(a + 0.1, a) == pytest.approx(20.0, abs=1e-5)  # mse 0.01


def test_drift_compares_each_loss_and_the_images():
    reference = {"losses": {"total": 10.0, "tv": 2.0}, "image": torch.zeros(1, 3, 4, 4)}
    image = torch.zeros(1, 3, 4, 4)
    image[0, 0, 0, 0] = 0.8  # one pixel of 48: mean 0.8 / 48, mse 0.64 / 48
    drift = precision_ab.drift({"losses": {"total": 11.0, "tv": 1.5}, "image": image}, reference)
    assert drift["relative_difference_total"] == pytest.approx(0.1) and drift["relative_difference_tv"] == 0.25
    assert drift["image_max_abs_difference"] == pytest.approx(0.8)
    assert drift["image_mean_abs_difference"] == pytest.approx(0.8 / 48, abs=1e-6)
    assert drift["psnr_db"] == pytest.approx(10 * math.log10(48 / 0.64), abs=0.01)


@pytest.mark.parametrize("crop_batch, other", [(16, 1), (0, 1), (1, 2)])
def test_the_rounding_yardstick_chunks_the_crops_otherwise(crop_batch, other):
    from clipstyler.settings import StyleSettings
    assert precision_ab.other_chunking(StyleSettings(crop_batch=crop_batch)) == other


def test_precision_compares_half_precision_and_a_rounding_run_with_fp32(monkeypatch, clip, vgg, target):
    monkeypatch.setattr(precision_ab, "build_models", lambda name, device: (clip, vgg, target))
    result = precision_ab.run(parse_args(["precision", "--size", "32", "--crops", "2", "--crop-size", "16",
                                          "--steps", "2", "--precision", "bf16"]))
    assert result["precision"] == "bf16" and result["rounding_crop_batch"] == 1
    for prefix in ("", "rounding_"):
        assert 0 <= result[f"{prefix}image_mean_abs_difference"] <= result[f"{prefix}image_max_abs_difference"] <= 1
        assert result[f"{prefix}psnr_db"] > 0
    # the same computation up to float rounding, two steps in: far closer to fp32 than bf16 gets
    assert result["rounding_image_max_abs_difference"] < result["image_max_abs_difference"]
    assert set(result) >= {"fp32_total", "bf16_total", "relative_difference_total", "rounding_relative_difference_dir"}


def test_precision_refuses_fp32_with_nothing_to_compare():
    with pytest.raises(SystemExit, match="nothing to compare"):
        precision_ab.run(parse_args(["precision", "--precision", "fp32"]))


def test_temporal_cost_times_the_terms_extra_pass_for_some_and_all_crops():
    result = temporal_cost.run(parse_args(["temporal-cost", "--crop-size", "16", "--batch", "3", "--views", "1",
                                           "--temporal-crops", "1", "--steps", "2", "--reps", "1", "--clip", "RN50"]))
    assert result["temporal_crops"] == 1 and result["batch"] == 3 and result["step_s"] > 0
    assert 0 < result["extra_s"] and 0 < result["extra_s_all_crops"]
    assert result["step_time_ratio"] == pytest.approx(1 + result["extra_s"] / result["step_s"], abs=1e-3)
