import open_clip
import open_clip.transformer
import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from torch import nn

from clipstyler.clip.text_truncation import argmax_pool, encode_text_truncated, is_truncatable, takes_batch_first
from clipstyler.templates import IMAGENET_TEMPLATES


def make_text_clip(**text_overrides) -> CLIP:
    """A small OpenAI-style CLIP whose text tower has 2 layers and 2 heads, so masking matters across layers."""
    torch.manual_seed(0)
    vision = CLIPVisionCfg(layers=1, width=64, patch_size=32, image_size=224)
    text = CLIPTextCfg(**{"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2,
                          **text_overrides})
    return CLIP(32, vision, text, quick_gelu=True).eval()


@pytest.fixture(scope="module")
def tokens() -> torch.Tensor:
    texts = [t.format("oil painting by Van Gogh") for t in IMAGENET_TEMPLATES] + ["a Photo", "fire"]
    return open_clip.get_tokenizer("ViT-B-32")(texts)


def sequence_length_seen(model: CLIP, tokens: torch.Tensor) -> int:
    """How many positions the text transformer received."""
    seen = []
    handle = model.transformer.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    try:
        with torch.no_grad():
            encode_text_truncated(model, tokens)
    finally:
        handle.remove()
    return seen[0]


def test_same_embeddings_as_the_full_77_tokens(tokens):
    model = make_text_clip()
    with torch.no_grad():
        full = model.encode_text(tokens)
        truncated = encode_text_truncated(model, tokens)
    assert truncated.shape == full.shape == (len(tokens), 32)
    torch.testing.assert_close(truncated, full, rtol=1e-5, atol=1e-5)


def test_encodes_only_up_to_the_last_eot(tokens):
    model = make_text_clip()
    last_eot = int(tokens.argmax(dim=-1).max())
    assert last_eot < 40  # the templates are short: this is where the saving comes from
    assert sequence_length_seen(model, tokens) == last_eot + 1


def test_a_single_short_prompt_matches_too():
    model = make_text_clip()
    tokens = open_clip.get_tokenizer("ViT-B-32")(["wool"])
    assert sequence_length_seen(model, tokens) == 3  # SOT, "wool", EOT
    with torch.no_grad():
        torch.testing.assert_close(encode_text_truncated(model, tokens), model.encode_text(tokens))


def test_other_pooling_is_encoded_in_full(tokens):
    model = make_text_clip(pool_type="last")
    assert not is_truncatable(model)
    assert sequence_length_seen(model, tokens) == 77


def test_non_causal_text_tower_is_encoded_in_full(tokens):
    model = make_text_clip()
    model.attn_mask = torch.zeros(77, 77)  # bidirectional: later positions would change the EOT's output
    assert not is_truncatable(model)
    assert sequence_length_seen(model, tokens) == 77


def test_a_subclass_with_its_own_encode_text_is_left_alone(tokens):
    class Custom(CLIP):
        def encode_text(self, text, normalize=False):
            return super().encode_text(text, normalize) * 2

    assert not is_truncatable(Custom(32, CLIPVisionCfg(layers=1, width=64, patch_size=32),
                                     CLIPTextCfg(width=64, heads=1, layers=1)))


def test_styler_clip_uses_it(clip):
    texts = ["a bad photo of a wool.", "fire"]
    seen = []
    handle = clip.model.transformer.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    try:
        encoded = clip.encode_text(texts)
    finally:
        handle.remove()
    assert seen == [9]  # SOT, 6 words and the full stop, EOT: not 77
    with torch.no_grad():
        expected = clip.model.encode_text(clip.tokenizer(texts)).float()
    torch.testing.assert_close(encoded, expected, rtol=1e-5, atol=1e-5)


def test_pooling_is_open_clips_argmax_pooling(tokens):
    x = torch.randn(len(tokens), 77, 8)
    theirs = open_clip.transformer.text_global_pool(x, tokens, "argmax")
    theirs = theirs[0] if isinstance(theirs, tuple) else theirs  # open_clip < 2.32 returned (pooled, tokens)
    torch.testing.assert_close(argmax_pool(x, tokens), theirs, rtol=0, atol=0)


def test_an_internally_sequence_first_transformer_still_truncates(tokens):
    model = make_text_clip()
    model.transformer.batch_first = False  # open_clip >= 2.26 then transposes inside its forward: the same interface
    for block in model.transformer.resblocks:
        block.attn.batch_first = False
    assert takes_batch_first(model.transformer) and is_truncatable(model)
    with torch.no_grad():
        torch.testing.assert_close(encode_text_truncated(model, tokens), model.encode_text(tokens),
                                   rtol=1e-5, atol=1e-5)


class SequenceFirstTransformer(nn.Module):
    """open_clip <= 2.24's text Transformer: (L, N, D) in and out, and no batch_first attribute."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def get_cast_dtype(self) -> torch.dtype:
        return self.inner.get_cast_dtype()

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.inner(x.transpose(0, 1), attn_mask=attn_mask).transpose(0, 1)


def encode_text_2_24(self, text, normalize: bool = False):
    """open_clip 2.24's CLIP.encode_text: the transformer runs sequence-first, pooling returns (pooled, tokens)."""
    x = self.token_embedding(text) + self.positional_embedding
    x = self.transformer(x.permute(1, 0, 2), attn_mask=self.attn_mask).permute(1, 0, 2)
    x = self.ln_final(x)
    x, _ = x[torch.arange(x.shape[0]), text.argmax(dim=-1)], x
    return x @ self.text_projection


def test_a_sequence_first_open_clip_is_encoded_in_full(monkeypatch, tokens):
    """The layout of open_clip 2.24: were it truncated, (N, L, D) would reach a transformer reading (L, N, D)."""
    model = make_text_clip()
    model.transformer = SequenceFirstTransformer(model.transformer)
    monkeypatch.setattr(CLIP, "encode_text", encode_text_2_24)
    assert not takes_batch_first(model.transformer) and not is_truncatable(model)
    seen = []
    model.transformer.inner.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    with torch.no_grad():
        torch.testing.assert_close(encode_text_truncated(model, tokens), model.encode_text(tokens))
    assert seen == [77, 77]  # all positions, as open_clip itself
