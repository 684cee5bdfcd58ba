import pytest

from clipstyler.errors import CLIPstylerError
from clipstyler.settings import StyleSettings


def test_reference_defaults():
    s = StyleSettings()
    assert (s.steps, s.lr, s.lr_step_size, s.lr_gamma, s.size, s.crop_size, s.num_crops, s.threshold) == (
        200, 5e-4, 100, 0.5, 512, 128, 64, 0.7)
    assert (s.lambda_patch, s.lambda_dir, s.lambda_content, s.lambda_tv) == (9000, 500, 150, 2e-3)
    assert s.distortion == 0.5 and s.precision == "fp32"


@pytest.mark.parametrize("field, value", [("steps", 0), ("lr", 0.0), ("num_crops", 0), ("threshold", 3.0),
                                          ("precision", "fp8"), ("global_view", "crop"), ("lambda_tv", -1.0),
                                          ("distortion", 1.5), ("crop_batch", -1)])
def test_bad_values_name_the_setting(field, value):
    with pytest.raises(CLIPstylerError, match=field):
        StyleSettings(**{field: value})


def test_dict_round_trip_ignores_unknown_keys():
    s = StyleSettings(steps=7, seed=3)
    assert StyleSettings.from_dict({**s.to_dict(), "from_the_future": 1}) == s
