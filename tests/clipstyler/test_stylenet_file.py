import pytest
import torch
from safetensors.torch import save_file

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
