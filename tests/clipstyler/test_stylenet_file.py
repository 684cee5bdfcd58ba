import os
import stat

import pytest
import torch
from safetensors.torch import save_file

from clipstyler import stylenet_file
from clipstyler.errors import CLIPstylerError
from clipstyler.settings import StyleSettings
from clipstyler.stylenet import build_stylenet
from clipstyler.stylenet_file import TrainedStyle, load_style, save_style


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    style = TrainedStyle(build_stylenet(seed=4), "white wool", "a Photo", "ViT-B-32/openai",
                         StyleSettings(steps=9).to_dict())
    path = save_style(style, str(tmp_path / "sub" / "wool.safetensors"))
    loaded = load_style(path)
    assert (loaded.style_text, loaded.source_text, loaded.clip_name) == ("white wool", "a Photo", "ViT-B-32/openai")
    assert StyleSettings.from_dict(loaded.settings) == StyleSettings(steps=9)
    for a, b in zip(style.stylenet.state_dict().values(), loaded.stylenet.state_dict().values()):
        assert torch.equal(a, b)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(style.stylenet.eval()(x), loaded.stylenet(x))


def test_foreign_safetensors_is_refused(tmp_path):
    path = tmp_path / "lora.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CLIPstylerError, match="not a CLIPstyler StyleNet"):
        load_style(str(path))


def test_corrupt_and_missing_files(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"garbage")
    with pytest.raises(CLIPstylerError, match="could not read StyleNet file 'bad.safetensors'"):
        load_style(str(path))
    with pytest.raises(CLIPstylerError, match="does not exist"):
        load_style(str(tmp_path / "none.safetensors"))


def test_wrong_shapes_for_the_stated_width(tmp_path):
    style = TrainedStyle(build_stylenet(ngf=8))
    path = save_style(style, str(tmp_path / "s.safetensors"))
    assert load_style(path).stylenet.ngf == 8
    metadata = {**style.metadata(), "ngf": "16"}
    save_file({k: v.contiguous() for k, v in style.stylenet.state_dict().items()}, str(path), metadata=metadata)
    with pytest.raises(CLIPstylerError, match="ngf=16"):
        load_style(path)


def test_saved_files_are_readable_by_others_and_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "wool.safetensors"
    save_style(TrainedStyle(build_stylenet(seed=1), "white wool"), str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    before = path.read_bytes()

    def interrupted(filename, mode):
        with open(filename, mode) as handle:
            handle.write(before[:33])  # the 33-byte stub a Ctrl-C left before writes were atomic
        raise KeyboardInterrupt

    monkeypatch.setattr(stylenet_file, "open", interrupted, raising=False)  # the module's open, mid-write
    with pytest.raises(KeyboardInterrupt):
        save_style(TrainedStyle(build_stylenet(seed=2), "fire"), str(path))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["wool.safetensors"]


def test_saving_the_same_style_twice_writes_the_same_bytes(tmp_path):
    """Reproducible runs give identical files (safetensors alone orders the metadata at random)."""
    style = TrainedStyle(build_stylenet(seed=1), "white wool", settings={"steps": 200, "lr": 5e-4, "seed": 3})
    paths = [str(tmp_path / f"{n}.safetensors") for n in range(4)]
    for path in paths:
        save_style(style, path)
    assert len({open(path, "rb").read() for path in paths}) == 1
    assert load_style(paths[0]).settings == {"steps": 200, "lr": 5e-4, "seed": 3}


def test_a_file_declaring_a_huge_width_is_refused_before_allocating(tmp_path, monkeypatch):
    style = TrainedStyle(build_stylenet(ngf=8))
    path = str(tmp_path / "s.safetensors")
    tensors = {k: v.contiguous() for k, v in style.stylenet.state_dict().items()}
    save_file(tensors, path, metadata={**style.metadata(), "ngf": "2000"})
    with pytest.raises(CLIPstylerError, match="ngf=2000, outside 1..256"):
        load_style(path)
    save_file(tensors, path, metadata={**style.metadata(), "ngf": "200"})  # in range, but not what the file holds
    built_on, real_stylenet = [], stylenet_file.StyleNet

    def recording(ngf):
        built_on.append((ngf, torch.empty(0).device.type))
        return real_stylenet(ngf)

    monkeypatch.setattr(stylenet_file, "StyleNet", recording)
    with pytest.raises(CLIPstylerError, match="does not hold StyleNet weights matching ngf=200"):
        load_style(path)
    assert built_on == [(200, "meta")]  # compared on the meta device: the 200-wide net was never allocated
    save_file(tensors, path, metadata={**style.metadata(), "ngf": "sixteen"})
    with pytest.raises(CLIPstylerError, match="unreadable metadata: ngf='sixteen'"):
        load_style(path)


def test_nan_weights_are_refused(tmp_path):
    tensors = {k: v.contiguous().clone() for k, v in build_stylenet(ngf=8).state_dict().items()}
    tensors["conv_fin.bias"][1] = float("nan")
    path = str(tmp_path / "nan.safetensors")
    save_file(tensors, path, metadata=TrainedStyle(build_stylenet(ngf=8)).metadata())
    with pytest.raises(CLIPstylerError, match=r"NaN or infinite weights \(in \['conv_fin.bias'\]\)"):
        load_style(path)


def test_save_refuses_a_folder_or_another_extension_before_writing(tmp_path):
    style = TrainedStyle(build_stylenet(ngf=8))
    with pytest.raises(CLIPstylerError, match="is a folder"):
        save_style(style, str(tmp_path))
    with pytest.raises(CLIPstylerError, match="has '.pt': use one of .safetensors"):
        save_style(style, str(tmp_path / "style.pt"))
    assert os.listdir(tmp_path) == []
