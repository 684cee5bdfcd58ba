"""Interpolating two styles: (1 - w) * a + w * b in the weights for nets that share a start, the outputs otherwise;
and released-format decoders through the style loaders and apply."""

from __future__ import annotations

import logging

import pytest
import torch

from clipstyler.adain import FastStyleNet, build_decoder, full_normalised_vgg
from clipstyler.apply import apply_stylenet
from clipstyler.errors import CLIPstylerError
from clipstyler.interpolate import (
    OutputBlend,
    blend_styles,
    interpolation_frames,
    parse_weights,
    why_not_shared,
)
from clipstyler.stylenet import build_stylenet
from clipstyler.stylenet_file import (
    TrainedStyle,
    load_any_style,
    load_released_decoder,
    load_style,
    save_style,
    text_from_released_name,
)


def fast_style(decoder_seed: int, text: str, start: str = "sha256:0") -> TrainedStyle:
    net = FastStyleNet()
    torch.manual_seed(0)
    net.encoder.load_state_dict(full_normalised_vgg()[:31].state_dict())  # the same encoder for every style
    torch.manual_seed(decoder_seed)
    net.decoder.load_state_dict(build_decoder().state_dict())
    return TrainedStyle(net.eval(), text, "a Photo", "tiny", {"steps": 1}, start)


def unet_style(seed: int, text: str, trained_seed: int | None = None) -> TrainedStyle:
    """A U-Net whose weights are those of seed + trained_seed's noise, recorded as started from seed."""
    net = build_stylenet(16, seed)
    if trained_seed is not None:
        generator = torch.Generator().manual_seed(trained_seed)
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.add_(0.01 * torch.randn(parameter.shape, generator=generator))
    return TrainedStyle(net.eval(), text, "a Photo", "tiny", {"seed": seed, "ngf": 16})


@pytest.mark.parametrize("make", [lambda: (fast_style(1, "stone wall"), fast_style(2, "desert sand")),
                                  lambda: (unet_style(0, "fire", 1), unet_style(0, "ice", 2))])
def test_ends_are_exact_and_the_middle_is_the_weighted_sum(make):
    a, b = make()
    assert why_not_shared(a, b) is None
    state_a, state_b = a.stylenet.state_dict(), b.stylenet.state_dict()
    for weight, expected in ((0.0, state_a), (1.0, state_b)):
        blended = blend_styles(a, b, weight).stylenet.state_dict()
        assert all(torch.equal(blended[key], expected[key]) for key in expected)
    middle = blend_styles(a, b, 0.25).stylenet.state_dict()
    for key in state_a:
        if state_a[key].is_floating_point():
            torch.testing.assert_close(middle[key], 0.75 * state_a[key] + 0.25 * state_b[key])
    images = torch.rand(1, 3, 24, 40)
    frames = interpolation_frames(a, b, images, [0.0, 1.0])
    torch.testing.assert_close(frames[0:1], apply_stylenet(a.stylenet, images), rtol=0, atol=0)
    torch.testing.assert_close(frames[1:2], apply_stylenet(b.stylenet, images), rtol=0, atol=0)


def test_inputs_are_left_unchanged():
    a, b = fast_style(1, "a"), fast_style(2, "b")
    before = {k: v.clone() for k, v in a.stylenet.state_dict().items()}
    blend_styles(a, b, 0.5)
    assert all(torch.equal(v, a.stylenet.state_dict()[k]) for k, v in before.items())


def test_unrelated_nets_blend_their_outputs_and_say_so(caplog):
    a, b = unet_style(0, "fire"), unet_style(7, "ice")
    assert "different weights" in why_not_shared(a, b) and "same seed" in why_not_shared(a, b)
    with caplog.at_level(logging.WARNING):
        blended = blend_styles(a, b, 0.3)
    assert isinstance(blended.stylenet, OutputBlend) and "blending their outputs" in caplog.text
    images = torch.rand(2, 3, 32, 32)
    expected = 0.7 * apply_stylenet(a.stylenet, images) + 0.3 * apply_stylenet(b.stylenet, images)
    torch.testing.assert_close(apply_stylenet(blended.stylenet, images), expected)
    assert "kinds" in why_not_shared(a, fast_style(1, "x"))
    assert "decoders" in why_not_shared(fast_style(1, "x", "sha256:1"), fast_style(2, "y", "sha256:2"))
    with pytest.raises(CLIPstylerError, match="cannot be saved.*save each"):
        save_style(blended, "/tmp/never_written.safetensors")


def test_animation_frames_are_weight_major():
    a, b = fast_style(1, "a"), fast_style(2, "b")
    images = torch.rand(2, 3, 16, 16)
    frames = interpolation_frames(a, b, images, parse_weights("0, 0.5, 1"))
    assert frames.shape == (6, 3, 16, 16)
    torch.testing.assert_close(frames[2:4], apply_stylenet(blend_styles(a, b, 0.5).stylenet, images))


@pytest.mark.parametrize("text, problem", [("", "empty"), ("0, x", "numbers"), ("1.5", r"\[0, 1\]")])
def test_bad_weights_are_named(text, problem):
    with pytest.raises(CLIPstylerError, match=problem):
        parse_weights(text)


def test_fast_style_round_trips_through_safetensors(tmp_path):
    style = fast_style(3, "stone wall", "sha256:abc")
    path = save_style(style, str(tmp_path / "stone.safetensors"))
    loaded = load_style(path)
    assert isinstance(loaded.stylenet, FastStyleNet) and loaded.kind == "adain"
    assert loaded.style_text == "stone wall" and loaded.start == "sha256:abc"
    for key, value in style.stylenet.state_dict().items():
        assert torch.equal(loaded.stylenet.state_dict()[key], value)


def test_released_decoder_round_trips_through_the_loaders_and_apply(tmp_path):
    """A decoder saved as the authors release theirs (a plain state dict, torch.save), with vgg_normalised.pth."""
    torch.manual_seed(0)
    encoder_path = tmp_path / "vgg_normalised.pth"
    torch.save(full_normalised_vgg().state_dict(), encoder_path)
    decoder = build_decoder()
    decoder_path = tmp_path / "clip_decoder_stone_wall.pth.tar"
    torch.save(decoder.state_dict(), decoder_path)
    style = load_released_decoder(str(decoder_path), str(encoder_path))
    assert style.style_text == "stone wall" and style.kind == "adain"
    assert all(torch.equal(style.stylenet.decoder.state_dict()[k], v) for k, v in decoder.state_dict().items())
    assert load_any_style(str(decoder_path), str(encoder_path)).style_text == "stone wall"
    with pytest.raises(CLIPstylerError, match="needs AdaIN's vgg_normalised.pth"):
        load_any_style(str(decoder_path))
    images = torch.rand(1, 3, 37, 53)  # not multiples of 8: padded and cropped back
    out = apply_stylenet(style.stylenet, images)
    assert out.shape == images.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    with torch.no_grad():
        padded = torch.nn.functional.pad(images, (0, 3, 0, 3), mode="replicate")
        expected = style.stylenet(padded)[..., :37, :53].clamp(0, 1)
    torch.testing.assert_close(out, expected)
    converted = load_style(save_style(style, str(tmp_path / "stone.safetensors")))
    torch.testing.assert_close(apply_stylenet(converted.stylenet, images), out, rtol=0, atol=0)


def test_released_names_give_the_text():
    assert text_from_released_name("/m/clip_decoder_stone_wall.pth.tar") == "stone wall"
    assert text_from_released_name("clip_decoder_pencil.pth") == "pencil"
