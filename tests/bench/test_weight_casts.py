"""`python -m bench weight-casts` at a small CLIP: the passes it counts and the seconds it reports."""

import pytest

from bench import weight_casts
from bench.__main__ import parse_args

HALF_UNIT = 0.5e-4 + 1e-12  # half of the reported fields' last decimal, plus float slack


@pytest.mark.parametrize("crops, crop_batch, passes", [(64, 16, 5), (64, 0, 1), (64, 64, 1), (4, 2, 3), (5, 2, 4)])
def test_clip_passes_of_a_step_follow_the_crop_chunks(crops, crop_batch, passes):
    """As StyleObjective.backward makes them (test_frozen_weights.py counts them in a real step at 4 crops by 2)."""
    assert weight_casts.clip_passes_per_step(crops, crop_batch) == passes


@pytest.mark.parametrize("views, view_batch, passes", [(16, 4, 6), (16, 0, 3), (16, 16, 3), (16, 5, 6)])
def test_clip_passes_of_a_fast_iteration_count_content_output_and_view_chunks(views, view_batch, passes):
    assert weight_casts.clip_passes_per_iteration(views, view_batch) == passes


def test_it_reports_the_casts_of_a_step_and_of_an_iteration():
    result = weight_casts.run(parse_args(["weight-casts", "--clip", "RN50", "--reps", "2", "--crops", "8",
                                          "--crop-batch", "4", "--views", "4", "--view-batch", "2"]))
    assert result["clip_passes_per_step"] == 3 and result["clip_passes_per_fast_iteration"] == 4
    assert result["clip_cast_s"] > 0 and result["vgg_cast_s"] > 0 and result["vgg_weights_m"] > 10
    # Every field is rounded to 4 decimals (error <= HALF_UNIT each), and the sums are formed before rounding.
    step_bound = (3 + 1 + 1) * HALF_UNIT  # 3 x clip, vgg, and the rounded sum itself
    iteration_bound = (4 + 1) * HALF_UNIT
    assert result["cast_s_per_step"] == pytest.approx(3 * result["clip_cast_s"] + result["vgg_cast_s"], abs=step_bound)
    assert result["cast_s_per_fast_iteration"] == pytest.approx(4 * result["clip_cast_s"], abs=iteration_bound)


def test_fp32_is_refused_since_it_casts_nothing():
    with pytest.raises(SystemExit, match="fp32 makes no casts"):
        weight_casts.run(parse_args(["weight-casts", "--precision", "fp32", "--clip", "RN50"]))
