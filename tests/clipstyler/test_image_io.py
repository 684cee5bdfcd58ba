import os
import stat

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.functional import to_tensor

from clipstyler import image_io
from clipstyler.errors import CLIPstylerError
from clipstyler.image import resize
from clipstyler.image_io import load_image, save_image


def test_16_bit_greyscale_png_keeps_its_levels(tmp_path):
    levels = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    path = tmp_path / "depth.png"
    Image.fromarray(levels).save(path)
    assert Image.open(path).mode.startswith("I")  # PIL reads it as a 16-bit (or 32-bit int) image
    image = load_image(str(path))
    assert image.shape == (1, 3, 64, 64)
    assert torch.allclose(image[0, 0], torch.from_numpy(levels / 65535.0).float(), atol=1e-6)
    assert image.mean().item() == pytest.approx(levels.mean() / 65535.0, abs=1e-4)  # not 90 % white
    assert torch.equal(image[0, 0], image[0, 2])


def test_32_bit_float_greyscale_is_clipped_to_0_1(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.25, 1.5], [-1.0, 0.75]], np.float32), mode="F").save(path)
    assert load_image(str(path))[0, 1].flatten().tolist() == [0.25, 1.0, 0.0, 0.75]


def test_alpha_palette_and_grey_become_rgb(tmp_path):
    for mode in ("RGBA", "P", "L", "LA", "CMYK"):
        path = tmp_path / f"{mode}.png" if mode != "CMYK" else tmp_path / "cmyk.jpg"
        Image.new(mode, (5, 4)).save(path)
        assert load_image(str(path)).shape == (1, 3, 4, 5), mode


def test_exif_rotation_is_applied_as_comfyui_does(tmp_path):
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": a portrait photo stored landscape
    Image.new("RGB", (40, 30), (250, 10, 10)).save(path, exif=exif)
    assert load_image(str(path)).shape == (1, 3, 40, 30)


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(CLIPstylerError, match="could not read image"):
        load_image(str(tmp_path / "notes.png"))
    with pytest.raises(CLIPstylerError, match="no such file"):
        load_image(str(tmp_path / "missing.png"))


def test_save_round_trips_8_bit_and_is_readable_by_others(tmp_path):
    image = torch.rand(1, 3, 6, 7)
    path = tmp_path / "out" / "result.png"  # the folder is created
    save_image(image, str(path))
    back = load_image(str(path))
    assert torch.allclose(back, image, atol=0.5 / 255 + 1e-6)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(tmp_path / "out") == ["result.png"]  # no temporary file left


@pytest.mark.parametrize("name, message", [("out.xyz", "has '.xyz': use one of .png"),
                                           ("out", "has no extension"),
                                           ("", "is a folder")])
def test_save_refuses_names_it_cannot_write(tmp_path, name, message):
    with pytest.raises(CLIPstylerError, match=message):
        save_image(torch.rand(1, 3, 4, 4), str(tmp_path / name) if name else str(tmp_path) + os.sep)


def test_an_interrupted_save_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "result.png"
    save_image(torch.zeros(1, 3, 8, 8), str(path))
    before = path.read_bytes()

    def interrupted(self, fp, *args, **kwargs):
        with open(fp, "wb") as handle:
            handle.write(b"\x89PNG half")  # what a Ctrl-C in the middle of writing leaves
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        image_io.save_image(torch.ones(1, 3, 8, 8), str(path))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["result.png"]


def noisy_photo(path, size=(90, 60), seed=0):
    """An 8-bit RGB file with detail everywhere, so that two resizes can differ."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


def test_pil_resize_is_the_references_loader_exactly(tmp_path):
    path = noisy_photo(tmp_path / "photo.png")
    image = load_image(path, (40, 64), method="pil")
    assert image.shape == (1, 3, 40, 64) and image.dtype == torch.float32
    direct = Image.open(path).convert("RGB").resize((64, 40), Image.Resampling.BICUBIC)
    assert torch.equal(image[0], torch.from_numpy(np.asarray(direct, dtype=np.float32) / 255).permute(2, 0, 1))
    # the authors' utils.load_image2: PIL's default filter (bicubic for RGB), then ToTensor
    reference = to_tensor(Image.open(path).resize((64, 40)))[:3]
    assert torch.equal(image[0], reference)


def test_pil_and_torch_resizes_differ_a_little(tmp_path):
    path = noisy_photo(tmp_path / "photo.png")
    pil, torch_path = load_image(path, (40, 64), method="pil"), load_image(path, (40, 64))
    assert torch.equal(torch_path, resize(load_image(path), (40, 64)))  # the default: float, antialiased bicubic
    difference = (pil - torch_path).abs()
    assert difference.max() > 1e-3 and difference.mean() < 0.05
    assert torch.equal(pil * 255, (pil * 255).round())  # rounded to 8 bits, the float resize is not
    assert not torch.equal(torch_path * 255, (torch_path * 255).round())


def test_pil_resize_keeps_16_bit_levels_and_exif_rotation(tmp_path):
    levels = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(levels).save(tmp_path / "depth.png")
    image = load_image(str(tmp_path / "depth.png"), (32, 32), method="pil")
    assert image.mean().item() == pytest.approx(levels.mean() / 65535.0, abs=0.01)  # not clipped to white
    exif = Image.Exif()
    exif[0x0112] = 6  # a portrait photo stored landscape
    Image.new("RGB", (40, 30), (250, 10, 10)).save(tmp_path / "phone.jpg", exif=exif)
    assert load_image(str(tmp_path / "phone.jpg"), (16, 12), method="pil").shape == (1, 3, 16, 12)


def test_unknown_resize_method_is_a_clear_error(tmp_path):
    with pytest.raises(CLIPstylerError, match="resize method must be one of torch, pil"):
        load_image(noisy_photo(tmp_path / "photo.png"), (8, 8), method="lanczos")
