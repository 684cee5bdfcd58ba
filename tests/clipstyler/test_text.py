import pytest
import torch
import torch.nn.functional as F

from clipstyler.errors import CLIPstylerError
from clipstyler.templates import IMAGENET_TEMPLATES
from clipstyler.text import embed_text, encode_style_target, overflow_warning


class FakeCLIP:
    """encode_text maps each text to a fixed pseudo-random vector, so averages can be checked by hand."""

    name = "fake"

    def encode_text(self, texts):
        return torch.stack([torch.randn(4, generator=torch.Generator().manual_seed(hash(t) % 2**31)) for t in texts])


def test_79_templates_as_the_authors():
    assert len(IMAGENET_TEMPLATES) == 79
    assert IMAGENET_TEMPLATES[0] == "a bad photo of a {}."
    assert "a photo of many {}." not in IMAGENET_TEMPLATES


def test_embedding_is_the_normalised_mean_of_raw_template_embeddings():
    clip = FakeCLIP()
    raw = clip.encode_text([t.format("wool") for t in IMAGENET_TEMPLATES])
    assert torch.allclose(embed_text(clip, "wool"), F.normalize(raw.mean(0), dim=-1))


def test_direction_is_normalised_difference(clip):
    """dt = normalise(T(style) - T(source)), T = normalise(mean of the 79 raw template embeddings), computed here
    from CLIP's own encode_text on the full 77 tokens (not the library's embed_text or its truncated encoder)."""

    def reference_embedding(text):
        with torch.no_grad():
            raw = clip.model.encode_text(clip.tokenizer([t.format(text) for t in IMAGENET_TEMPLATES]))
        assert raw.shape == (79, 32)
        return F.normalize(raw.mean(dim=0), dim=-1)

    target = encode_style_target(clip, "fire", "a Photo")
    expected = F.normalize(reference_embedding("fire") - reference_embedding("a Photo"), dim=-1)
    torch.testing.assert_close(target.direction, expected, atol=1e-5, rtol=0)
    assert target.direction.norm().item() == pytest.approx(1.0, abs=1e-5)
    assert target.clip_name == clip.name


@pytest.mark.parametrize("style, source, word", [("", "a Photo", "style text"), ("  ", "a Photo", "style text"),
                                                 ("fire", "", "source text"), ("fire", "fire", "same")])
def test_bad_texts_are_clear_errors(clip, style, source, word):
    with pytest.raises(CLIPstylerError, match=word):
        encode_style_target(clip, style, source)


def test_works_under_inference_mode(clip):
    with torch.inference_mode():
        target = encode_style_target(clip, "fire")
    assert target.direction.shape == (32,)


LONG = " ".join(["swirling"] * 40) + " brush strokes at the very end"  # 40 + 6 tokens; longest template adds ~10


def test_a_text_too_long_for_clip_is_warned_about_naming_the_words_lost(clip, caplog):
    assert overflow_warning(clip, "white wool") is None
    with caplog.at_level("WARNING", logger="clipstyler"):
        target = encode_style_target(clip, LONG)
    (note,) = target.notes
    assert "too long for CLIP" in note and "CLIP reads 77" in note
    assert "at the very end" in note  # the words CLIP will not see
    assert note in caplog.text


def test_the_warning_counts_tokens_as_the_tokenizer_cuts_them(clip):
    # Find the longest text the longest template still fits: one more word must trigger the warning.
    words = []
    while overflow_warning(clip, " ".join(words + ["x"])) is None:
        words.append("x")
    fits = " ".join(words)
    template = max(IMAGENET_TEMPLATES, key=lambda t: len(clip.tokenizer.encode(t.format(fits))))
    assert len(clip.tokenizer.encode(template.format(fits))) == 75  # 77 with the start and end tokens
    tokens = clip.tokenizer([template.format(fits)])[0]
    assert tokens[76] == tokens.max()  # the end token sits in the last place: nothing cut
