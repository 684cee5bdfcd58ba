import pytest
import torch

from clipstyler.errors import CLIPstylerError
from clipstyler.image import check_image, pad_to_multiple, processing_size, resize, to_bchw, to_bhwc


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
    (torch.rand(1, 8, 8, 3) * 255, "0-255"),
    (torch.full((1, 8, 8, 3), float("nan")), "NaN"),
    (torch.zeros(0, 8, 8, 3), "empty"),
    (torch.zeros(1, 8, 8, 3, dtype=torch.uint8), "float"),
])
def test_bad_images_name_the_input(images, message):
    with pytest.raises(CLIPstylerError, match=message) as error:
        check_image(images, "frames")
    assert "frames" in str(error.value)


def test_layout_round_trip():
    x = torch.rand(2, 5, 7, 3)
    assert to_bchw(x).shape == (2, 3, 5, 7)
    assert torch.equal(to_bhwc(to_bchw(x)), x)


def test_resize_clamps_and_is_identity_at_same_size():
    x = torch.rand(1, 3, 16, 16)
    assert resize(x, (16, 16)) is x
    y = resize(x, (8, 24))
    assert y.shape == (1, 3, 8, 24) and 0 <= y.min() and y.max() <= 1


def test_pad_to_multiple_replicates_edges():
    x = torch.rand(1, 3, 10, 13)
    padded, original = pad_to_multiple(x)
    assert padded.shape == (1, 3, 16, 16) and original == (10, 13)
    assert torch.equal(padded[..., :10, :13], x)
    assert torch.equal(padded[..., 15, :13], x[..., 9, :])
