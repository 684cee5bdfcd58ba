"""CLIP text encoding that stops at the last end-of-text token: the same embeddings, several times faster.

open_clip pads every prompt to 77 tokens, but CLIP's text transformer is causal and reads its embedding at the
end-of-text (EOT) token, so no position after the batch's last EOT can change the result. Encoding only up to there
(about 15 of 77 tokens for the 79 templates) gives the same numbers up to float summation order, and takes the
style target's encoding from seconds to well under one on a CPU (bench/RESULTS.md).

Applied only to open_clip's own `CLIP.encode_text` with argmax (EOT) pooling, a causal mask and a text transformer
that takes (N, L, D) tensors; any other text tower, or an open_clip whose layout differs, is encoded as it is.
"""

from __future__ import annotations

import torch
from open_clip.model import CLIP
from torch import nn


def is_causal_mask(mask: object) -> bool:
    """True for a 2-D float mask that is -inf strictly above the diagonal and 0 elsewhere."""
    if not isinstance(mask, torch.Tensor) or mask.dim() != 2:
        return False
    strictly_upper = torch.ones(mask.shape, dtype=torch.bool, device=mask.device).triu(1)
    return bool(torch.equal(torch.isneginf(mask), strictly_upper)) and bool((mask[~strictly_upper] == 0).all())


def takes_batch_first(transformer: nn.Module) -> bool:
    """True where open_clip's text transformer takes and returns (N, L, D), as the code below feeds it.

    Up to open_clip 2.24 CLIP.encode_text permuted to (L, N, D) around a Transformer that had no `batch_first`;
    from 2.26.1 (the next release on PyPI) the Transformer has one and takes (N, L, D) whatever its internal layout.
    """
    return isinstance(getattr(transformer, "batch_first", None), bool)


def is_truncatable(model: nn.Module) -> bool:
    """True for an open_clip CLIP whose text output provably ignores tokens after the EOT (see module docstring)."""
    if getattr(type(model), "encode_text", None) is not CLIP.encode_text:
        return False  # a subclass or another text tower: its encode_text may do something else
    if getattr(model, "text_pool_type", None) != "argmax":
        return False  # e.g. 'eos' (open_clip >= 3.1) or 'last': pooled elsewhere than the highest token id
    return takes_batch_first(getattr(model, "transformer", None)) and is_causal_mask(getattr(model, "attn_mask", None))


def argmax_pool(x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(N, L, D) -> (N, D): each row at its highest token id (the EOT), as open_clip's 'argmax' pooling. Done here
    because open_clip's text_global_pool returned (pooled, tokens) up to 2.31 and returns pooled from 2.32 on."""
    return x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]


def encode_text_truncated(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """(N, L) token ids -> (N, D) raw text embeddings, equal to model.encode_text(tokens).

    The EOT has the highest token id, as open_clip's argmax pooling also assumes. Falls back to
    model.encode_text where the model is not truncatable.
    """
    if not is_truncatable(model):
        return model.encode_text(tokens)
    length = int(tokens.argmax(dim=-1).max()) + 1
    tokens = tokens[:, :length]
    # The lines below are CLIP.encode_text with the positions and the causal mask cut to `length`.
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype)
    x = x + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = argmax_pool(model.ln_final(x), tokens)
    if model.text_projection is None:
        return x
    if isinstance(model.text_projection, nn.Linear):
        return model.text_projection(x)
    return x @ model.text_projection
