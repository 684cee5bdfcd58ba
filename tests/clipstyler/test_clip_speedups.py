import copy
from types import SimpleNamespace

import open_clip
import pytest
import torch
from open_clip.transformer import VisionTransformer
from tests_support import state_dict_of

from clipstyler.clip_model import freeze
from clipstyler.clip_speedups import (
    class_token_last_block,
    contiguous_attention,
    matmul_patch_embedding,
    speed_up_vision_tower,
)


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


def small_vit(**options) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(image_size=64, patch_size=16, width=32, layers=2, heads=2, mlp_ratio=4.0, output_dim=16,
                             **options).eval()


def test_class_token_last_block_is_exact_and_computes_one_token():
    plain = small_vit()
    fast = copy.deepcopy(plain)
    assert class_token_last_block(fast)
    seen = []
    fast.transformer.resblocks[-1].mlp.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    images = torch.rand(3, 3, 64, 64)
    e1, g1 = embeddings_and_input_gradient(SimpleNamespace(encode_image=plain), images)
    e2, g2 = embeddings_and_input_gradient(SimpleNamespace(encode_image=fast), images)
    assert seen == [(3, 1, 32)]  # the last MLP ran on the class token only, not on 1 + 16 tokens
    assert torch.allclose(e1, e2, rtol=1e-5, atol=1e-6)
    assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-5 * g1.abs().max())


@pytest.mark.parametrize("options", [dict(pool_type="avg"), dict(output_tokens=True), dict(attentional_pool=True)])
def test_class_token_last_block_only_where_nothing_else_is_read(options):
    vit = small_vit(**options)
    assert not class_token_last_block(vit)
    assert "forward" not in vars(vit.transformer.resblocks[-1])
