import re

import numpy as np
import pytest
import torch

from clipstyler.errors import CLIPstylerError, SettingError
from clipstyler.image import (
    as_image_batch,
    check_image,
    check_processing_size,
    pad_for_stylenet,
    processing_size,
    resize,
    to_bchw,
    to_bhwc,
)


def test_processing_size_keeps_aspect_and_multiples_of_8():
    assert processing_size(512, 512, 512) == (512, 512)
    assert processing_size(427, 640, 512) == (344, 512)
    assert processing_size(1080, 1920, 512) == (288, 512)
    assert processing_size(100, 50, 500) == (496, 248)  # 500 rounds to the multiple of 8 below
    assert all(side % 8 == 0 for side in processing_size(333, 777, 300))


@pytest.mark.parametrize("images, message", [
    (torch.rand(1, 8, 8, 4), "4 channels"),
    (torch.rand(1, 8, 8, 1), "1 channels"),
    (torch.rand(8, 8, 3), "batch, height, width"),
    (torch.rand(1, 8, 8, 3) * 255, "divide 0-255 values by 255"),
    (torch.full((1, 8, 8, 3), float("nan")), "NaN"),
    (torch.full((1, 8, 8, 3), float("inf")), "infinite"),
    (torch.zeros(0, 8, 8, 3), "empty batch"),
    (torch.zeros(1, 8, 8, 3, dtype=torch.uint8), "float"),
    (torch.full((1, 8, 8, 3), -0.5), r"\[0, 1\], got \[-0.5"),
])
def test_bad_comfyui_images_name_the_input(images, message):
    with pytest.raises(CLIPstylerError, match=message) as error:
        check_image(images, "frames")
    assert "frames" in str(error.value)


@pytest.mark.parametrize("images, message", [
    (np.zeros((1, 3, 8, 8), np.float32), "torch.from_numpy"),
    ([[0.5]], "got list"),
    (torch.rand(1, 8, 8, 3), r"looks like \(B, H, W, 3\)"),
    (torch.rand(2, 1, 8, 8), r"\(batch, 3, height, width\)"),
    (torch.rand(1, 3, 8, 8) * 255, "divide 0-255 values by 255"),
    (torch.full((1, 3, 8, 8), float("nan")), "NaN"),
    (torch.full((1, 3, 8, 8), float("inf")), "infinite"),
    (torch.zeros(0, 3, 8, 8), "empty batch"),
    (torch.zeros(1, 3, 8, 8, dtype=torch.int32), "float"),
])
def test_bad_library_images_are_refused_with_the_fix(images, message):
    with pytest.raises(CLIPstylerError, match=message):
        as_image_batch(images, "images")


def test_unambiguous_library_images_are_converted(caplog):
    one = torch.rand(3, 8, 8)
    with caplog.at_level("INFO", logger="clipstyler"):
        batch = as_image_batch(one)
    assert batch.shape == (1, 3, 8, 8) and torch.equal(batch[0], one)
    eight_bit = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1)
    with caplog.at_level("INFO", logger="clipstyler"):
        converted = as_image_batch(eight_bit)
    assert converted.dtype == torch.float32 and converted.flatten().tolist() == pytest.approx([0.0, 0.2, 1.0])
    assert "taken as one image" in caplog.text and "divided by 255" in caplog.text


def test_processing_size_check_accepts_what_fits():
    assert check_processing_size(60, 90, 64, 32) == (40, 64)
    assert check_processing_size(512, 512, 512, 128) == (512, 512)


@pytest.mark.parametrize("height, width, size, crop, advice", [
    (50, 4000, 512, 8, "raise {size} to 960 or more, or crop the image to a less elongated shape"),
    (512, 512, 8, 8, "raise {size} to 16 or more"),
    (300, 400, 256, 256, "lower {crop_size} to 192 or less, or raise {size} to 336 or more"),
])
def test_sizes_the_networks_cannot_take_are_refused_with_what_would_fit(height, width, size, crop, advice):
    with pytest.raises(SettingError) as error:
        check_processing_size(height, width, size, crop)
    assert error.value.template.endswith(advice)
    assert "--crop-size" in error.value.describe({"size": "--size", "crop_size": "--crop-size"})
    # The advice is right: the suggested size works, and 8 px less would not.
    suggested = int(re.search(r"raise \{size\} to (\d+)", advice).group(1))
    assert min(check_processing_size(height, width, suggested, crop)) >= max(16, crop)
    with pytest.raises(SettingError):
        check_processing_size(height, width, suggested - 8, crop)


def test_layout_round_trip():
    x = torch.rand(2, 5, 7, 3)
    assert to_bchw(x).shape == (2, 3, 5, 7)
    assert torch.equal(to_bhwc(to_bchw(x)), x)


def test_resize_clamps_and_is_identity_at_same_size():
    x = torch.rand(1, 3, 16, 16)
    assert resize(x, (16, 16)) is x
    y = resize(x, (8, 24))
    assert y.shape == (1, 3, 8, 24) and 0 <= y.min() and y.max() <= 1


def test_pad_for_stylenet_replicates_edges_to_multiples_of_8_and_16_px():
    x = torch.rand(1, 3, 10, 21)
    padded, original = pad_for_stylenet(x)
    assert padded.shape == (1, 3, 16, 24) and original == (10, 21)
    assert torch.equal(padded[..., :10, :21], x)
    assert torch.equal(padded[..., 15, :21], x[..., 9, :])
    tiny, _ = pad_for_stylenet(torch.rand(1, 3, 2, 3))
    assert tiny.shape == (1, 3, 16, 16)
    same = torch.rand(1, 3, 16, 32)
    assert pad_for_stylenet(same)[0] is same
