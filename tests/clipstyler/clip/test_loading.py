import socket

import open_clip
import pytest
import torch
from safetensors.torch import save_file
from tests_support import state_dict_of

from clipstyler.clip import loading as clip_loading
from clipstyler.clip.loading import load_clip_file, load_pretrained_clip, read_state_dict
from clipstyler.errors import CLIPstylerError, WeightsUnavailable

IMAGE = torch.rand(2, 3, 224, 224)


class NotWeights:
    pass


def same_embeddings(clip, model):
    with torch.no_grad():
        ours = clip.encode_image(IMAGE)
        mean, std = torch.tensor(clip.mean).view(1, 3, 1, 1), torch.tensor(clip.std).view(1, 3, 1, 1)
        theirs = model.encode_image((IMAGE - mean) / std)
    return torch.allclose(ours, theirs, atol=1e-5)


def test_safetensors_round_trip(tiny_clip_file, tiny_clip_model):
    clip = load_clip_file(tiny_clip_file)
    assert clip.image_size == 224 and clip.name == "tiny_clip.safetensors"
    assert same_embeddings(clip, tiny_clip_model)
    assert not any(p.requires_grad for p in clip.model.parameters())
    assert clip.encode_text(["a photo of a cat"]).shape == (1, 32)


def test_open_clip_bin_state_dict_with_wrapper(tmp_path, tiny_clip_model):
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state_dict_of(tiny_clip_model).items()}}, path)
    assert same_embeddings(load_clip_file(str(path)), tiny_clip_model)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_openai_torchscript_archive(tmp_path, tiny_clip_model):
    path = tmp_path / "ViT-tiny.pt"  # OpenAI's .pt files are TorchScript archives
    traced = torch.jit.trace_module(tiny_clip_model, {"encode_image": (IMAGE[:1],)})
    torch.jit.save(traced, str(path))
    assert same_embeddings(load_clip_file(str(path)), tiny_clip_model)


def test_named_architecture(tmp_path):
    model = open_clip.create_model("RN50", pretrained=None)
    path = tmp_path / "rn50.safetensors"
    save_file(state_dict_of(model), str(path))
    clip = load_clip_file(str(path), "RN50")
    assert clip.name == "rn50.safetensors (RN50)"
    with pytest.raises(CLIPstylerError, match="does not match architecture 'ViT-B-32'"):
        load_clip_file(str(path), "ViT-B-32")


def test_real_vit_b_32_architecture_through_auto(tmp_path):
    model = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None)
    path = tmp_path / "ViT-B-32.safetensors"
    save_file(state_dict_of(model), str(path))
    clip = load_clip_file(str(path))
    assert clip.image_size == 224
    assert clip.model.visual.conv1.weight.shape == (768, 3, 32, 32)
    assert sum(p.numel() for p in clip.model.parameters()) == sum(p.numel() for p in model.parameters())
    assert torch.equal(clip.model.visual.proj, model.visual.proj)


def test_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(CLIPstylerError, match="broken.safetensors"):
        load_clip_file(str(path))


def test_pickle_that_is_not_weights_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": NotWeights()}, path)  # an arbitrary object: weights_only must refuse to build it
    with pytest.raises(CLIPstylerError, match="could not read CLIP checkpoint"):
        read_state_dict(str(path))


def test_a_bug_is_not_reported_as_a_bad_file(tmp_path, monkeypatch, tiny_clip_model):
    """A TypeError (say, an API a dependency's version lacks) must surface as itself, not as 'not a checkpoint'."""
    path = tmp_path / "clip.bin"
    torch.save(state_dict_of(tiny_clip_model), path)

    def newer_api(*args, **kwargs):
        raise TypeError("load() got an unexpected keyword argument 'weights_only'")

    monkeypatch.setattr(torch, "load", newer_api)
    with pytest.raises(TypeError, match="weights_only"):
        read_state_dict(str(path))


def test_open_clip_training_checkpoint_with_ddp_prefix(tmp_path, tiny_clip_model):
    path = tmp_path / "epoch_32.pt"
    torch.save({"epoch": 32, "state_dict": {f"module.{k}": v for k, v in state_dict_of(tiny_clip_model).items()}},
               path)
    assert same_embeddings(load_clip_file(str(path)), tiny_clip_model)


def test_text_encoder_only_file(tmp_path, tiny_clip_model):
    path = tmp_path / "clip_l.safetensors"
    save_file({k: v for k, v in state_dict_of(tiny_clip_model).items() if not k.startswith("visual.")}, str(path))
    with pytest.raises(CLIPstylerError, match="image encoder"):
        load_clip_file(str(path))


def test_missing_file():
    with pytest.raises(CLIPstylerError, match="'/nonexistent/clip.safetensors': no such file"):
        load_clip_file("/nonexistent/clip.safetensors")


def test_unknown_pretrained_tag_suggests_close_names():
    with pytest.raises(CLIPstylerError, match="no pretrained weights ViT-B-32/opnai: did you mean ViT-B-32/openai"):
        load_pretrained_clip("ViT-B-32", "opnai")


def test_offline_fails_at_once_naming_the_file_and_where_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(clip_loading, "unreachable_reason", lambda url: f"cannot resolve {url[8:23]}")
    lookups = []
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args, **kwargs: lookups.append(host)
                        or real_getaddrinfo(host, *args, **kwargs))
    with pytest.raises(WeightsUnavailable) as error:
        load_pretrained_clip("ViT-B-32", "openai", cache_dir=str(tmp_path))
    # The hub ran offline: no lookup of it, let alone its minute of retries. (open_clip before 3.0 fetches OpenAI's
    # weights from their own URL instead, which fails at its first lookup.)
    assert "huggingface.co" not in lookups
    assert error.value.model == "clip" and error.value.file_name == "ViT-B-32.pt"
    url = error.value.url
    assert url.startswith("https://openaipublic.azureedge.net/") and url.endswith("/ViT-B-32.pt")
    assert error.value.cause.startswith("cannot resolve huggingface.co")
    assert not any(tmp_path.iterdir())  # nothing half-downloaded left in the cache


def test_a_failing_download_becomes_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(clip_loading, "unreachable_reason", lambda url: None)

    def refused(*args, **kwargs):
        raise RuntimeError("HTTP Error 403: Forbidden\n<html>...</html>")

    monkeypatch.setattr(open_clip, "create_model", refused)
    with pytest.raises(WeightsUnavailable) as error:
        load_pretrained_clip("ViT-B-16", "laion2b_s34b_b88k", cache_dir=str(tmp_path))
    assert error.value.cause == "RuntimeError: HTTP Error 403: Forbidden"
    assert error.value.file_name == "open_clip_model.safetensors"
    assert error.value.url == "https://huggingface.co/laion/CLIP-ViT-B-16-laion2B-s34B-b88K"


def test_pretrained_downloads_into_the_given_cache(monkeypatch, tmp_path, tiny_clip_model):
    calls = {}

    def fake_create_model(name, pretrained=None, cache_dir=None, **kwargs):
        calls.update(name=name, pretrained=pretrained, cache_dir=cache_dir)
        return tiny_clip_model

    monkeypatch.setattr(open_clip, "create_model", fake_create_model)
    monkeypatch.setattr(clip_loading, "unreachable_reason", lambda url: None)
    clip = load_pretrained_clip("ViT-B-32", "openai", cache_dir=str(tmp_path))
    assert calls == {"name": "ViT-B-32", "pretrained": "openai", "cache_dir": str(tmp_path)}
    assert clip.name == "ViT-B-32/openai"


@pytest.mark.parametrize("architecture, tag, quick_gelu", [("ViT-B-32", "openai", True), ("RN50", "openai", True),
                                                          ("ViT-B-32", "laion2b_s34b_b79k", False)])
def test_pretrained_weights_get_the_activation_they_were_trained_with(monkeypatch, tmp_path, architecture, tag,
                                                                      quick_gelu):
    """OpenAI's weights need QuickGELU; open_clip's plain configs use GELU and would only warn (2.29 and later)."""
    built, real_create_model = {}, open_clip.create_model

    def create_model(name, pretrained=None, cache_dir=None, **kwargs):
        built["model"] = real_create_model(name, pretrained=None, **kwargs)  # the same build, without the weights
        return built["model"]

    monkeypatch.setattr(clip_loading, "unreachable_reason", lambda url: None)
    monkeypatch.setattr(open_clip, "create_model", create_model)
    load_pretrained_clip(architecture, tag, cache_dir=str(tmp_path))
    activations = {type(m).__name__ for m in built["model"].modules() if "GELU" in type(m).__name__}
    assert activations == ({"QuickGELU"} if quick_gelu else {"GELU"})
