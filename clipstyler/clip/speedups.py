"""Exact speed-ups for a frozen ViT CLIP whose input needs gradients (measured in bench/PROFILE.md).

All four keep every output and input gradient the same up to float summation order:
- Attention on batch-first tensors. open_clip's nn.MultiheadAttention(batch_first=True) transposes its input to a
  strided (L, N, E) view; with an input that requires grad, F.linear then runs the in-projection as a bmm over an
  expanded weight, and the heads are split and merged through copies. The same projections on the contiguous
  (N, L, E) input, with the heads split by views, make each projection one matmul and drop most copies.
- The stride-32 patch embedding as reshape + matmul: same numbers, and a far cheaper input gradient on CPUs than
  the convolution's.
- The last transformer block computes the class token alone. A ViT pooled on its class token ("tok") reads nothing
  else from that block, whose other 49 tokens' attention output and MLP are otherwise computed, and differentiated,
  for nothing: about 7 % of the tower's work.
- Attention in bf16 on a CPU as two matmuls, with the scores and their softmax in float32. For CLIP's 50 tokens
  torch's fused CPU kernel, above all its backward, took 3.3x as long in bf16 (17 images, forward and backward, on
  a 2-core AVX512-BF16 CPU), at about the same error against float64 (tests/clipstyler/clip/test_speedups.py).
"""

from __future__ import annotations

import inspect
import types

import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock, VisionTransformer
from torch import nn


def _batch_first_attention(
    self: nn.MultiheadAttention,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    key_padding_mask: torch.Tensor | None = None,
    need_weights: bool = True,
    attn_mask: torch.Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[torch.Tensor, None]:
    """nn.MultiheadAttention.forward for batch-first (N, L, E) inputs, unmasked and without dropout: the same
    projections and scaled dot-product attention, with the heads split by views instead of copies. Anything else
    (weights asked for, masks, dropout, distinct key and value) goes to the original forward."""
    special = need_weights or key_padding_mask is not None or attn_mask is not None or is_causal
    if special or value is not key or (self.training and self.dropout > 0):
        return nn.MultiheadAttention.forward(self, query, key, value, key_padding_mask, need_weights, attn_mask,
                                             average_attn_weights, is_causal)
    n, length, width = query.shape
    heads = self.num_heads

    def split_heads(x: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...]:
        """(N, L, parts * E) -> parts tensors (N, H, L, E / H), as views."""
        return x.view(n, x.shape[1], parts, heads, width // heads).permute(2, 0, 3, 1, 4).unbind(0)

    if key is query:  # self-attention: one packed projection
        q, k, v = split_heads(F.linear(query, self.in_proj_weight, self.in_proj_bias), 3)
    else:  # the class-token block below: its own query, one projection for the shared key and value
        w_q, w_kv = self.in_proj_weight.split([width, 2 * width])
        b_q, b_kv = self.in_proj_bias.split([width, 2 * width])
        (q,) = split_heads(F.linear(query, w_q, b_q), 1)
        k, v = split_heads(F.linear(key, w_kv, b_kv), 2)
    out = dot_product_attention(q, k, v)
    out = out.transpose(1, 2).reshape(n, length, width)
    return F.linear(out, self.out_proj.weight, self.out_proj.bias), None


def dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """F.scaled_dot_product_attention(q, k, v), unmasked: (N, H, L, E) -> (N, H, L, E).

    bf16 on a CPU takes two matmuls instead of the fused kernel: the scores and their softmax in float32 (as the fused
    kernel keeps them), the weighted sum of the values in bf16. Every other dtype and device keeps the fused kernel.
    """
    if q.device.type != "cpu" or q.dtype != torch.bfloat16:
        return F.scaled_dot_product_attention(q, k, v)
    with torch.autocast("cpu", enabled=False):  # autocast would run the float32 score matmul in bf16
        scores = torch.matmul(q.float() * q.shape[-1] ** -0.5, k.float().transpose(-2, -1))
        return torch.matmul(scores.softmax(dim=-1).to(v.dtype), v)


def packed_attention(transformer: nn.Module) -> int:
    """Give every plain batch-first attention block under transformer the forward above; returns how many."""
    count = 0
    for module in transformer.modules():
        plain = (
            isinstance(module, nn.MultiheadAttention)
            and module.batch_first
            and module._qkv_same_embed_dim
            and module.in_proj_bias is not None
            and module.bias_k is None
            and not module.add_zero_attn
        )
        if plain:
            module.forward = types.MethodType(_batch_first_attention, module)  # same parameters and keys
            count += 1
    return count


def _patch_embedding_forward(self: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    p = self.kernel_size[0]
    if h % p or w % p:
        return self._conv_forward(x, self.weight, self.bias)
    gh, gw = h // p, w // p
    patches = x.reshape(n, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(n, gh * gw, c * p * p)
    out = F.linear(patches, self.weight.reshape(self.out_channels, -1), self.bias)
    return out.transpose(1, 2).reshape(n, self.out_channels, gh, gw)


def matmul_patch_embedding(conv: nn.Module) -> bool:
    """Run a non-overlapping patch convolution (kernel = stride, no padding) as a matmul; True if applied."""
    plain = (
        isinstance(conv, nn.Conv2d)
        and conv.kernel_size == conv.stride
        and conv.kernel_size[0] == conv.kernel_size[1]
        and conv.padding == (0, 0)
        and conv.dilation == (1, 1)
        and conv.groups == 1
    )
    if plain:
        conv.forward = types.MethodType(_patch_embedding_forward, conv)  # same parameters and state-dict keys
    return plain


def _class_token_forward(
    self: ResidualAttentionBlock,
    q_x: torch.Tensor,
    k_x: torch.Tensor | None = None,
    v_x: torch.Tensor | None = None,
    attn_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """ResidualAttentionBlock.forward for the class token alone: (N, L, D) -> (N, 1, D), batch first."""
    normed = self.ln_1(q_x)
    x = q_x[:, :1] + self.ls_1(self.attention(q_x=normed[:, :1], k_x=normed, v_x=normed, attn_mask=attn_mask))
    return x + self.ls_2(self.mlp(self.ln_2(x)))


def _attention_takes_key_value(block: nn.Module) -> bool:
    """True if block.attention(q_x=, k_x=, v_x=, attn_mask=) can be called, as _class_token_forward does."""
    try:
        parameters = inspect.signature(block.attention).parameters
    except (AttributeError, TypeError, ValueError):
        return False
    return all(name in parameters for name in ("q_x", "k_x", "v_x", "attn_mask"))


def class_token_last_block(visual: nn.Module) -> bool:
    """Make a class-token-pooled open_clip ViT's last block compute the class token alone; True if applied.

    Only where that token is provably all the tower reads: open_clip's own VisionTransformer with "tok" pooling,
    no attention pooler, no token outputs, batch-first blocks, and a plain (self-attention) last block. Each is
    read with a default that refuses, so an open_clip without one of these attributes keeps its own forward (up to
    2.24 the blocks ran sequence-first and the Transformer had no `batch_first`).
    """
    if type(visual) is not VisionTransformer:
        return False
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    last = blocks[-1] if blocks else None
    applies = (
        getattr(visual, "pool_type", None) == "tok"
        and getattr(visual, "attn_pool", True) is None
        and getattr(visual, "output_tokens", True) is False
        and getattr(visual.transformer, "batch_first", None) is True
        and type(last) is ResidualAttentionBlock
        and not hasattr(last, "ln_1_kv")
        and all(hasattr(last, name) for name in ("ln_1", "ls_1", "ln_2", "mlp", "ls_2"))
        and _attention_takes_key_value(last)
    )
    if applies:
        last.forward = types.MethodType(_class_token_forward, last)  # same parameters and state-dict keys
    return applies


def speed_up_vision_tower(model: nn.Module) -> None:
    """Apply all three to an open_clip model's ViT image tower (ResNet towers are left as they are)."""
    visual = getattr(model, "visual", None)
    if visual is None or not hasattr(visual, "transformer"):
        return
    packed_attention(visual.transformer)
    matmul_patch_embedding(getattr(visual, "conv1", None))
    class_token_last_block(visual)
