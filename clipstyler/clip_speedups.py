"""Exact speed-ups for a frozen ViT CLIP whose input needs gradients (measured in bench/PROFILE.md).

Both keep every output and input gradient the same up to float summation order:
- Attention input made contiguous. open_clip's nn.MultiheadAttention(batch_first=True) transposes its input to a
  strided (L, N, E) view; with an input that requires grad, F.linear then runs the in-projection as a bmm over an
  expanded weight. Feeding it a contiguous (L, N, E) tensor (batch_first off) makes it one matmul.
- The stride-32 patch embedding as reshape + matmul: same numbers, and a far cheaper input gradient on CPUs than
  the convolution's.
- The last transformer block computes the class token alone. A ViT pooled on its class token ("tok") reads nothing
  else from that block, whose other 49 tokens' attention output and MLP are otherwise computed, and differentiated,
  for nothing: about 7 % of the tower's work.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock, VisionTransformer
from torch import nn


def _sequence_first(module: nn.MultiheadAttention, args: tuple, kwargs: dict):
    query, key, value = args[:3]
    moved_query = query.transpose(0, 1).contiguous()
    moved_key = moved_query if key is query else key.transpose(0, 1).contiguous()
    moved_value = moved_key if value is key else value.transpose(0, 1).contiguous()
    # the same objects for the same inputs: F.multi_head_attention_forward then packs their projections
    return (moved_query, moved_key, moved_value, *args[3:]), kwargs


def _batch_first(module: nn.MultiheadAttention, args: tuple, kwargs: dict, output):
    return (output[0].transpose(0, 1), *output[1:])


def contiguous_attention(transformer: nn.Module) -> int:
    """Give every batch-first attention block under transformer a contiguous sequence-first input; returns count."""
    count = 0
    for module in transformer.modules():
        if isinstance(module, nn.MultiheadAttention) and module.batch_first:
            module.batch_first = False
            module.register_forward_pre_hook(_sequence_first, with_kwargs=True)
            module.register_forward_hook(_batch_first, with_kwargs=True)
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


def class_token_last_block(visual: nn.Module) -> bool:
    """Make a class-token-pooled open_clip ViT's last block compute the class token alone; True if applied.

    Only where that token is provably all the tower reads: open_clip's own VisionTransformer with "tok" pooling,
    no attention pooler, no token outputs, batch-first blocks, and a plain (self-attention) last block.
    """
    if type(visual) is not VisionTransformer:
        return False
    blocks = getattr(visual.transformer, "resblocks", None)
    last = blocks[-1] if blocks else None
    applies = (
        visual.pool_type == "tok"
        and visual.attn_pool is None
        and not visual.output_tokens
        and getattr(visual.transformer, "batch_first", False)
        and type(last) is ResidualAttentionBlock
        and not hasattr(last, "ln_1_kv")
    )
    if applies:
        last.forward = types.MethodType(_class_token_forward, last)  # same parameters and state-dict keys
    return applies


def speed_up_vision_tower(model: nn.Module) -> None:
    """Apply all three to an open_clip model's ViT image tower (ResNet towers are left as they are)."""
    visual = getattr(model, "visual", None)
    if visual is None or not hasattr(visual, "transformer"):
        return
    contiguous_attention(visual.transformer)
    matmul_patch_embedding(getattr(visual, "conv1", None))
    class_token_last_block(visual)
