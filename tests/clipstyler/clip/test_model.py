"""CLIP's global view of a whole image (docs/METHOD.md, "CLIP input" and "Departures from the reference")."""

import pytest
import torch
import torch.nn.functional as F

from clipstyler.clip.model import OPENAI_MEAN, global_view


def images(height, width, batch=2, seed=0):
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


def padded_view(image, size, fill):
    """The formula: bicubic F.interpolate (no antialias) of the long side to `size`, the short side to
    round(short * size / long), then the short side padded with `fill` per channel, centred (an odd remainder puts
    the extra pixel after the image: bottom or right)."""
    height, width = image.shape[-2:]
    long = max(height, width)
    new_h, new_w = round(height * size / long), round(width * size / long)
    resized = F.interpolate(image, size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=False)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    padding = (left, size - new_w - left, top, size - new_h - top)  # F.pad order: left, right, top, bottom
    channels = [F.pad(resized[:, c], padding, value=fill[c]) for c in range(3)]
    return torch.stack(channels, dim=1)


# (height, width, size): upscaled and downscaled, tall and wide, even and odd padding; none is a rounding tie.
CASES = [
    (11, 40, 32),  # wide, downscaled: 40 -> 32, 11 -> 9 (8.8), padding 23: 11 above, 12 below
    (40, 11, 32),  # the same, tall: padding 11 left, 12 right
    (12, 40, 32),  # wide, even padding: 12 -> 10 (9.6), 11 above and below
    (20, 13, 48),  # tall, upscaled: 20 -> 48, 13 -> 31 (31.2), padding 17: 8 left, 9 right
    (13, 20, 48),  # the same, wide
]


@pytest.mark.parametrize("height, width, size", CASES)
def test_pad_resizes_the_long_side_and_centres_the_image_on_clips_mean_colour(height, width, size):
    image = images(height, width)
    view = global_view(image, size)  # "pad" and CLIP's mean colour are the defaults
    assert view.shape == (2, 3, size, size)
    torch.testing.assert_close(view, padded_view(image, size, OPENAI_MEAN), atol=1e-6, rtol=0)


@pytest.mark.parametrize("height, width, size", CASES[:2])
def test_pad_fills_with_the_colour_given(height, width, size):
    image, fill = images(height, width), (0.1, 0.5, 0.9)
    view = global_view(image, size, "pad", fill=fill)
    torch.testing.assert_close(view, padded_view(image, size, fill), atol=1e-6, rtol=0)
    corner = view[:, :, 0, 0] if height < width else view[:, :, -1, -1]
    torch.testing.assert_close(corner, torch.tensor([fill, fill]))


@pytest.mark.parametrize("height, width, size", [*CASES, (24, 24, 32)])
def test_squash_is_plain_bicubic_to_a_square(height, width, size):
    image = images(height, width)
    expected = F.interpolate(image, size=(size, size), mode="bicubic", align_corners=False, antialias=False)
    torch.testing.assert_close(global_view(image, size, "squash"), expected, atol=0, rtol=0)


def test_a_square_image_is_the_same_in_both_modes():
    image = images(24, 24)
    torch.testing.assert_close(global_view(image, 32, "pad"), global_view(image, 32, "squash"), atol=0, rtol=0)


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="pad' or 'squash"):
        global_view(images(12, 40), 32, "crop")
