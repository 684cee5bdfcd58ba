import math

import pytest

from clipstyler.errors import CLIPstylerError, SettingError
from clipstyler.settings import StyleSettings


def test_reference_defaults():
    s = StyleSettings()
    assert (s.steps, s.lr, s.lr_step_size, s.lr_gamma, s.size, s.crop_size, s.num_crops, s.threshold) == (
        200, 5e-4, 100, 0.5, 512, 128, 64, 0.7)
    assert (s.lambda_patch, s.lambda_dir, s.lambda_content, s.lambda_tv) == (9000, 500, 150, 2e-3)
    assert s.distortion == 0.5 and s.precision == "fp32"


@pytest.mark.parametrize("field, value, problem", [
    ("steps", 0, "must be >= 1, got 0"),
    ("lr", 0.0, "must be > 0.0, got 0.0"),
    ("num_crops", 0, "must be >= 1, got 0"),
    ("threshold", 3.0, "must be <= 2.0, got 3.0"),
    ("precision", "fp8", "must be one of auto, fp32, bf16, fp16; got 'fp8'"),
    ("global_view", "crop", "must be one of pad, squash; got 'crop'"),
    ("lambda_tv", -1.0, "must be >= 0.0, got -1.0"),
    ("distortion", 1.5, "must be <= 1.0, got 1.5"),
    ("crop_batch", -1, "must be >= 0, got -1"),
    ("size", 8, "must be >= 16, got 8"),
    ("ngf", 2000, "must be <= 256, got 2000"),
    # wrong types and non-finite numbers
    ("steps", 2.5, "must be a whole number, got 2.5 (float)"),
    ("steps", "200", "must be a whole number, got '200' (str)"),
    ("seed", True, "must be a whole number, got True (bool)"),
    ("lr", math.nan, "must be a finite number, got nan"),
    ("lambda_patch", math.inf, "must be a finite number, got inf"),
    ("lambda_dir", "500", "must be a number, got '500' (str)"),
    ("torch_compile", 1, "must be true or false, got 1 (int)"),
    ("precision", None, "must be text, got None (NoneType)"),
])
def test_bad_values_are_refused_naming_the_setting(field, value, problem):
    with pytest.raises(SettingError) as error:
        StyleSettings(**{field: value})
    assert str(error.value) == f"{field} {problem}"
    assert error.value.fields == (field,)
    assert isinstance(error.value, CLIPstylerError)


def test_numpy_numbers_are_taken_as_python_numbers():
    import numpy as np

    s = StyleSettings(steps=np.int64(5), lr=np.float32(0.25), seed=np.uint8(3), lambda_tv=np.int32(1))
    assert (s.steps, s.lr, s.seed, s.lambda_tv) == (5, 0.25, 3, 1.0)
    assert (type(s.steps), type(s.lr), type(s.seed), type(s.lambda_tv)) == (int, float, int, float)
    with pytest.raises(SettingError, match=r"steps must be a whole number, got np.float64\(2.5\)"):
        StyleSettings(steps=np.float64(2.5))
    with pytest.raises(SettingError, match="lr must be a finite number, got nan"):
        StyleSettings(lr=np.float32("nan"))


def test_a_front_end_can_name_its_own_control():
    with pytest.raises(SettingError) as error:
        StyleSettings(num_crops=0)
    assert error.value.describe({"num_crops": "--crops"}) == "--crops must be >= 1, got 0"


def test_braces_in_a_bad_value_do_not_break_the_message():
    with pytest.raises(SettingError, match=r"got \{'a': 1\} \(dict\)"):
        StyleSettings(global_view={"a": 1})


def test_integers_are_accepted_for_float_settings():
    assert StyleSettings(lambda_patch=9000).lambda_patch == 9000  # JSON and ComfyUI give whole numbers as int


def test_every_field_carries_its_help():
    from dataclasses import fields

    assert all(spec.metadata["help"] for spec in fields(StyleSettings))


def test_dict_round_trip_ignores_unknown_keys():
    s = StyleSettings(steps=7, seed=3)
    assert StyleSettings.from_dict({**s.to_dict(), "from_the_future": 1}) == s
