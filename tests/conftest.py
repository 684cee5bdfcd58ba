"""Shared fixtures: small models built here, saved to temp files and loaded back through the real loaders.

Nothing downloads: a tiny open_clip CLIP (the real CLIP class, a small config) and VGG-19's real architecture with
random weights stand in for the pretrained files that cannot be had in tests.
"""

from __future__ import annotations

import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from safetensors.torch import save_file
from tests_support import state_dict_of
from torchvision.models import vgg19

import clipstyler
from clipstyler.text import StyleTarget


def make_tiny_clip_model(seed: int = 0) -> CLIP:
    """An OpenAI-style ViT CLIP with one layer per tower and width 64 (224 px input, 32 px patches)."""
    torch.manual_seed(seed)
    vision = CLIPVisionCfg(layers=1, width=64, patch_size=32, image_size=224)
    text = CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1, layers=1)
    return CLIP(32, vision, text, quick_gelu=True).eval()


@pytest.fixture(scope="session")
def tiny_clip_model() -> CLIP:
    return make_tiny_clip_model()


@pytest.fixture(scope="session")
def tiny_clip_file(tmp_path_factory, tiny_clip_model) -> str:
    path = str(tmp_path_factory.mktemp("clip") / "tiny_clip.safetensors")
    save_file(state_dict_of(tiny_clip_model), path)
    return path


@pytest.fixture(scope="session")
def vgg_file(tmp_path_factory) -> str:
    """torchvision's VGG-19 'features.*' weights, randomly initialised, as a .pth state dict."""
    torch.manual_seed(0)
    path = str(tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth")
    torch.save({f"features.{k}": v for k, v in vgg19().features.state_dict().items()}, path)
    return path


@pytest.fixture(scope="session")
def clip(tiny_clip_file) -> clipstyler.StylerCLIP:
    return clipstyler.load_clip_file(tiny_clip_file)


@pytest.fixture(scope="session")
def vgg(vgg_file) -> clipstyler.VGGContent:
    return clipstyler.load_vgg19(vgg_file)


@pytest.fixture(scope="session")
def target(clip) -> StyleTarget:
    return clipstyler.encode_style_target(clip, "white wool")


@pytest.fixture
def small_settings() -> clipstyler.StyleSettings:
    return clipstyler.StyleSettings(steps=3, size=64, crop_size=32, num_crops=6)
