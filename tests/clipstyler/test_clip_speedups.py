import copy

import open_clip
import pytest
import torch
from tests_support import state_dict_of

from clipstyler.clip_model import freeze
from clipstyler.clip_speedups import contiguous_attention, matmul_patch_embedding, speed_up_vision_tower


def embeddings_and_input_gradient(model, images):
    images = images.clone().requires_grad_(True)
    embeddings = model.encode_image(images)
    (embeddings * torch.linspace(-1, 1, embeddings.shape[-1])).sum().backward()
    return embeddings.detach(), images.grad


@pytest.mark.parametrize("architecture", ["ViT-B-32", "ViT-B-16"])
def test_same_embeddings_and_input_gradients(architecture):
    torch.manual_seed(0)
    plain = freeze(open_clip.create_model(architecture, pretrained=None))
    fast = copy.deepcopy(plain)
    speed_up_vision_tower(fast)
    images = torch.rand(3, 3, 224, 224)
    e1, g1 = embeddings_and_input_gradient(plain, images)
    e2, g2 = embeddings_and_input_gradient(fast, images)
    assert torch.allclose(e1, e2, rtol=1e-4, atol=1e-5)
    assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-4 * g1.abs().max())
    assert list(state_dict_of(fast)) == list(state_dict_of(plain))  # files still load and save the same


def test_applies_only_where_it_is_exact():
    assert matmul_patch_embedding(torch.nn.Conv2d(3, 8, 4, stride=4, bias=False))
    assert not matmul_patch_embedding(torch.nn.Conv2d(3, 8, 3, stride=1, padding=1))
    assert not matmul_patch_embedding(None)
    attention = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    assert contiguous_attention(torch.nn.Sequential(attention)) == 1 and not attention.batch_first
    resnet = open_clip.create_model("RN50", pretrained=None)
    speed_up_vision_tower(resnet)  # no ViT tower: left alone
    assert "forward" not in vars(resnet.visual.conv1)
    vit = open_clip.create_model("ViT-B-32", pretrained=None)
    speed_up_vision_tower(vit)
    assert "forward" in vars(vit.visual.conv1)
