"""The fast mode's AdaIN encoder-decoder takes AdaIN's and the authors' state dicts key for key (random weights saved
with torch.save, as the released files are), and its files are read safely."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from clipstyler.adain import ENCODER_LAYERS, FastStyleNet, build_decoder, build_encoder, full_normalised_vgg
from clipstyler.adain_weights import adain_file, load_decoder, load_encoder, load_fast_stylenet
from clipstyler.errors import CLIPstylerError, WeightsUnavailable

# The authors' fast_stylenet.py layouts written out as module types and conv shapes, index by index: the decoder
# (29 modules) and the normalised VGG (53 modules; the encoder is its first 31).
AUTHORS_DECODER_CONVS = {1: (256, 512), 5: (256, 256), 8: (256, 256), 11: (256, 256), 14: (128, 256),
                         18: (128, 128), 21: (64, 128), 25: (64, 64), 28: (3, 64)}
AUTHORS_DECODER_UPSAMPLES = (3, 16, 23)
AUTHORS_VGG_POOLS = (7, 14, 27, 40)


def test_decoder_has_the_authors_layout():
    decoder = build_decoder()
    assert len(decoder) == 29
    for index, module in enumerate(decoder):
        if index in AUTHORS_DECODER_CONVS:
            assert isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3)
            assert tuple(module.weight.shape[:2]) == AUTHORS_DECODER_CONVS[index]
        elif index in AUTHORS_DECODER_UPSAMPLES:
            assert isinstance(module, nn.Upsample) and module.mode == "nearest"
        else:
            assert isinstance(module, (nn.ReflectionPad2d, nn.ReLU)), index
    assert not isinstance(decoder[-1], nn.ReLU)  # unbounded output, as the authors'


def test_encoder_is_the_first_31_modules_of_the_normalised_vgg():
    vgg = full_normalised_vgg()
    assert len(vgg) == 53
    assert [i for i, m in enumerate(vgg) if isinstance(m, nn.MaxPool2d)] == list(AUTHORS_VGG_POOLS)
    assert all(vgg[i].ceil_mode for i in AUTHORS_VGG_POOLS)
    assert isinstance(vgg[0], nn.Conv2d) and vgg[0].kernel_size == (1, 1)
    encoder = build_encoder()
    assert len(encoder) == ENCODER_LAYERS == 31 and isinstance(encoder[30], nn.ReLU)  # relu4_1
    assert tuple(encoder[29].weight.shape) == (512, 256, 3, 3)
    assert not any(p.requires_grad for p in encoder.parameters())


def released_files(tmp_path, seed: int = 0) -> tuple[str, str]:
    """vgg_normalised.pth (all 53 modules, as released) and a decoder, as plain torch.save'd state dicts."""
    torch.manual_seed(seed)
    encoder, decoder = tmp_path / "vgg_normalised.pth", tmp_path / "clip_decoder_stone_wall.pth.tar"
    torch.save(full_normalised_vgg().state_dict(), encoder)
    torch.save(build_decoder().state_dict(), decoder)
    return str(encoder), str(decoder)


def test_released_files_load_key_for_key(tmp_path):
    encoder_path, decoder_path = released_files(tmp_path)
    vgg_state, decoder_state = torch.load(encoder_path), torch.load(decoder_path)
    net = load_fast_stylenet(encoder_path, decoder_path)
    for key, value in net.encoder.state_dict().items():
        assert torch.equal(value, vgg_state[key])
    assert net.decoder.state_dict().keys() == decoder_state.keys()
    for key, value in net.decoder.state_dict().items():
        assert torch.equal(value, decoder_state[key])


def test_forward_is_decoder_of_relu4_1(tmp_path):
    net = load_fast_stylenet(*released_files(tmp_path))
    images = torch.rand(2, 3, 40, 56)
    features = net.encode(images)
    assert features.shape == (2, 512, 5, 7)
    torch.testing.assert_close(net(images), net.decoder(features))
    assert net(images).shape == images.shape
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.rand(1, 3, 30, 32))


def test_training_mode_keeps_the_encoder_frozen():
    net = FastStyleNet().train()
    assert not net.encoder.training and net.decoder.training
    assert not any(p.requires_grad for p in net.encoder.parameters())
    assert all(p.requires_grad for p in net.decoder.parameters())


def test_wrong_files_are_named(tmp_path):
    encoder_path, decoder_path = released_files(tmp_path)
    with pytest.raises(CLIPstylerError, match="not an AdaIN decoder.*missing"):
        load_decoder(encoder_path)
    with pytest.raises(CLIPstylerError, match="normalised VGG-19.*missing"):
        load_encoder(decoder_path)
    with pytest.raises(CLIPstylerError, match="no such file"):
        load_decoder(str(tmp_path / "nothing.pth"))
    broken = tmp_path / "broken.pth"
    state = torch.load(decoder_path)
    state["1.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, broken)
    with pytest.raises(CLIPstylerError, match="NaN or infinite"):
        load_decoder(str(broken))


class Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_pickled_code_is_not_run(tmp_path, capsys):
    evil = tmp_path / "decoder.pth"
    with open(evil, "wb") as handle:
        pickle.dump({"1.weight": Payload()}, handle, protocol=2)
    with pytest.raises(CLIPstylerError, match="could not read"):
        load_decoder(str(evil))
    assert "pickled code ran" not in capsys.readouterr().out


def test_missing_start_weights_are_explained_without_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "")  # no proxy: the host check decides
    with pytest.raises(WeightsUnavailable) as caught:
        adain_file(str(tmp_path / "adain"), "decoder.pth", download=False)
    error = caught.value
    assert error.model == "adain" and error.file_name == "decoder.pth"
    assert error.url.endswith("/decoder.pth") and "not in" in error.cause
    assert not (tmp_path / "adain").exists()
