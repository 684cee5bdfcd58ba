import contextlib
import copy
from types import SimpleNamespace

import open_clip
import pytest
import torch
import torch.nn.functional as F
from open_clip.transformer import VisionTransformer
from tests_support import state_dict_of

from clipstyler.clip.model import freeze
from clipstyler.clip.speedups import (
    class_token_last_block,
    dot_product_attention,
    matmul_patch_embedding,
    packed_attention,
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
    assert packed_attention(torch.nn.Sequential(attention)) == 1 and "forward" in vars(attention)
    assert packed_attention(torch.nn.Sequential(torch.nn.MultiheadAttention(8, 2))) == 0  # sequence-first
    assert packed_attention(torch.nn.Sequential(torch.nn.MultiheadAttention(8, 2, batch_first=True, kdim=4))) == 0
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


@pytest.mark.parametrize("query_length", [5, 1])  # self-attention, and a single query against all tokens
def test_packed_attention_matches_multihead_attention(query_length):
    torch.manual_seed(0)
    plain = torch.nn.MultiheadAttention(16, 4, batch_first=True).eval()
    fast = copy.deepcopy(plain)
    packed_attention(torch.nn.Sequential(fast))
    tokens = torch.randn(3, 5, 16, requires_grad=True)
    outputs, gradients = [], []
    for attention in (plain, fast):
        query = tokens if query_length == 5 else tokens[:, :1]
        out = attention(query, tokens, tokens, need_weights=False)[0]
        (grad,) = torch.autograd.grad((out * torch.linspace(-1, 1, 16)).sum(), tokens)
        outputs.append(out)
        gradients.append(grad)
    assert outputs[1].shape == (3, query_length, 16)
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gradients[1], gradients[0], rtol=1e-5, atol=1e-6)


def test_packed_attention_leaves_masked_calls_to_the_original():
    torch.manual_seed(0)
    plain = torch.nn.MultiheadAttention(16, 4, batch_first=True).eval()
    fast = copy.deepcopy(plain)
    packed_attention(torch.nn.Sequential(fast))
    x = torch.randn(2, 5, 16)
    mask = torch.ones(5, 5, dtype=torch.bool).triu(1)  # True = not allowed, as nn.MultiheadAttention reads it
    expected, weights = plain(x, x, x, attn_mask=mask)
    got, got_weights = fast(x, x, x, attn_mask=mask)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got_weights, weights)


def test_class_token_last_block_refuses_sequence_first_blocks():
    """open_clip's Transformer(batch_first=False) hands its blocks (L, N, D): the class token is then row 0, not
    column 0, and the block must keep its own forward (up to open_clip 2.24 every tower ran that way)."""
    plain = small_vit()
    plain.transformer.batch_first = False
    for block in plain.transformer.resblocks:
        block.attn.batch_first = False
    fast = copy.deepcopy(plain)
    assert not class_token_last_block(fast)
    images = torch.rand(3, 3, 64, 64)
    e1, g1 = embeddings_and_input_gradient(SimpleNamespace(encode_image=plain), images)
    e2, g2 = embeddings_and_input_gradient(SimpleNamespace(encode_image=fast), images)
    torch.testing.assert_close(e2, e1, rtol=0, atol=0)
    torch.testing.assert_close(g2, g1, rtol=0, atol=0)


@pytest.mark.parametrize("owner, attribute", [("visual", "pool_type"), ("visual", "attn_pool"),
                                              ("visual", "output_tokens"), ("transformer", "batch_first")])
def test_class_token_last_block_refuses_a_vit_without_the_attributes_it_reads(owner, attribute):
    """As an open_clip that predates one of them (up to 2.24 the Transformer had no batch_first and the blocks ran
    sequence-first): what that version does instead is unknown, so its own forward stays."""
    vit = small_vit()
    delattr(vit if owner == "visual" else vit.transformer, attribute)
    assert not class_token_last_block(vit)
    assert "forward" not in vars(vit.transformer.resblocks[-1])


def test_class_token_last_block_refuses_an_attention_without_key_and_value():
    vit = small_vit()
    last = vit.transformer.resblocks[-1]
    last.attention = lambda q_x, attn_mask=None: last.attn(q_x, q_x, q_x, need_weights=False)[0]
    assert not class_token_last_block(vit)
    assert "forward" not in vars(last)


def attention_and_gradient(attend, q, k, v, weights, forward_context=contextlib.nullcontext):
    """attend's output and the gradient of a weighted sum of it with respect to the packed q, k, v, as float64."""
    packed = torch.stack([q, k, v]).detach().requires_grad_(True)
    with forward_context():
        out = attend(*packed.unbind(0))
    (out.double() * weights).sum().backward()
    return out.detach().double(), packed.grad.double()


def relative_error(result, reference) -> float:
    return float((result - reference).norm() / reference.norm())


def test_bf16_cpu_attention_is_as_accurate_as_the_fused_kernel():
    """Against float64 on the same bf16 inputs: within 1.5x the fused kernel's error, output and gradient."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(5, 4, 50, 64).mul(2).to(torch.bfloat16) for _ in range(3))  # scores of a few units
    weights = torch.randn(5, 4, 50, 64, dtype=torch.float64)
    exact = attention_and_gradient(F.scaled_dot_product_attention, *(t.double() for t in (q, k, v)), weights)
    fused = attention_and_gradient(F.scaled_dot_product_attention, q, k, v, weights)
    ours = attention_and_gradient(dot_product_attention, q, k, v, weights)
    for mine, theirs, reference in zip(ours, fused, exact):
        assert relative_error(mine, reference) <= 1.5 * relative_error(theirs, reference)
    # As the objective calls it: the forward under autocast (the scores still in float32), the backward outside.
    under_autocast = attention_and_gradient(dot_product_attention, q, k, v, weights,
                                            lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    assert all(torch.equal(a, b) for a, b in zip(under_autocast, ours))


def test_other_dtypes_keep_the_fused_kernel():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 8) for _ in range(3))
    assert torch.equal(dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v))
