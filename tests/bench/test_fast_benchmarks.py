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


def test_temporal_cost_times_the_terms_extra_pass_for_some_and_all_crops():
    result = temporal_cost.run(parse_args(["temporal-cost", "--crop-size", "16", "--batch", "3", "--views", "1",
                                           "--temporal-crops", "1", "--steps", "2", "--reps", "1", "--clip", "RN50"]))
    assert result["temporal_crops"] == 1 and result["batch"] == 3 and result["step_s"] > 0
    assert 0 < result["extra_s"] and 0 < result["extra_s_all_crops"]
    assert result["step_time_ratio"] == pytest.approx(1 + result["extra_s"] / result["step_s"], abs=1e-3)
