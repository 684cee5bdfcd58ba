import os

import pytest
import torch
from torchvision.models import vgg19

from clipstyler import vgg as vgg_module
from clipstyler.errors import CLIPstylerError, WeightsUnavailable
from clipstyler.vgg import VGG19_FILENAME, VGGContent, load_vgg19, load_vgg19_from_folder


def reference_features(model, image):
    """The authors' get_features: run torchvision's VGG-19 (in-place ReLUs) and keep features['21'], ['31']."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x, kept = (image - mean) / std, {}
    for name, layer in model._modules.items():
        x = layer(x)
        if name in ("21", "31"):
            kept[name] = x
    return [kept["21"], kept["31"]]


def test_matches_the_reference_relu4_2_and_relu5_2(vgg_file, vgg):
    full = vgg19().features.eval()
    full.load_state_dict({k.removeprefix("features."): v for k, v in torch.load(vgg_file).items()})
    image = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        ours, theirs = vgg(image), reference_features(full, image)
    assert [f.shape for f in ours] == [(1, 512, 8, 6), (1, 512, 4, 3)]
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-5)
    assert all(f.min() >= 0 for f in ours)  # post-ReLU


def test_stops_at_relu5_2():
    assert len(VGGContent().features) == 32


def test_frozen(vgg):
    assert not any(p.requires_grad for p in vgg.parameters())


def test_full_torchvision_state_dict_loads(tmp_path, vgg_file):
    state = torch.load(vgg_file)
    state["classifier.0.weight"] = torch.zeros(2, 2)  # a full file also has the classifier, which is ignored
    path = tmp_path / "full.pth"
    torch.save(state, path)
    assert isinstance(load_vgg19(str(path)), VGGContent)


def test_wrong_file_is_a_clear_error(tmp_path):
    path = tmp_path / "not_vgg.pth"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(CLIPstylerError, match="not a torchvision VGG-19"):
        load_vgg19(str(path))
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(CLIPstylerError, match="could not read VGG-19"):
        load_vgg19(str(corrupt))


def test_folder_without_weights_and_no_download(tmp_path):
    with pytest.raises(CLIPstylerError, match=VGG19_FILENAME):
        load_vgg19_from_folder(str(tmp_path), download=False)


def test_folder_with_weights(tmp_path, vgg_file):
    os.symlink(vgg_file, tmp_path / VGG19_FILENAME)
    assert isinstance(load_vgg19_from_folder(str(tmp_path), download=False), VGGContent)


def test_a_failed_download_names_the_file_and_leaves_no_empty_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(vgg_module, "unreachable_reason", lambda url: None)

    def forbidden(url, model_dir, **kwargs):
        assert os.path.isdir(model_dir)  # torch.hub downloads into the folder (to a temporary file first)
        raise OSError("HTTP Error 403: Forbidden")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", forbidden)
    folder = tmp_path / "new" / "vgg"
    with pytest.raises(WeightsUnavailable) as error:
        load_vgg19_from_folder(str(folder))
    assert (error.value.model, error.value.file_name) == ("vgg", VGG19_FILENAME)
    assert error.value.url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert error.value.cause == "OSError: HTTP Error 403: Forbidden"
    assert not (tmp_path / "new").exists()


def test_offline_the_download_is_not_even_tried(tmp_path, monkeypatch):
    monkeypatch.setattr(vgg_module, "unreachable_reason", lambda url: "cannot resolve download.pytorch.org")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("tried to download"))
    (tmp_path / "vgg").mkdir()  # a folder that was there before stays
    with pytest.raises(WeightsUnavailable, match="cannot resolve download.pytorch.org"):
        load_vgg19_from_folder(str(tmp_path / "vgg"))
    assert (tmp_path / "vgg").is_dir()


def test_missing_file_says_so(tmp_path):
    with pytest.raises(CLIPstylerError, match="no such file"):
        load_vgg19(str(tmp_path / "nope.pth"))
