"""The reference cost model's CLIP (bench/openai_clip.py) and the bench's settings flags.

The cost model runs CLIP's image tower in the layout of OpenAI's `clip` package (sequence-first, as the authors'
code loads it). It has to compute what open_clip's batch-first tower computes on the same weights, or the cost
model would time a different computation.
"""

from __future__ import annotations

import argparse

import open_clip
import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from torch.profiler import profile

from bench import optimize, pairs, reference, report
from bench.openai_clip import OpenAIImageTower, from_open_clip, to_clip_load_half
from clipstyler.cli import FLAGS
from clipstyler.settings import StyleSettings


def small_clip(seed: int = 0) -> CLIP:
    """An OpenAI-style ViT CLIP: QuickGELU, 2 layers of width 64 in 4 heads, 16 px patches of a 64 px image."""
    torch.manual_seed(seed)
    vision = CLIPVisionCfg(layers=2, width=64, head_width=16, patch_size=16, image_size=64)
    text = CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=4, layers=1)
    return CLIP(32, vision, text, quick_gelu=True).eval()


def embeddings_and_gradients(encode, parameters, images: torch.Tensor):
    """The embedding, the input gradient and the weight gradients of sum(embedding * fixed weights)."""
    images = images.clone().requires_grad_(True)
    for parameter in parameters.values():
        parameter.grad = None
    out = encode(images)
    weights = torch.linspace(-1, 1, out.numel()).view_as(out)
    (out * weights).sum().backward()
    return out.detach(), images.grad, {name: p.grad.clone() for name, p in parameters.items()}


@pytest.mark.parametrize("weights_need_grad", [True, False])
def test_sequence_first_tower_computes_what_open_clip_computes(weights_need_grad):
    model = small_clip()
    model.requires_grad_(weights_need_grad)
    tower = from_open_clip(model.visual).requires_grad_(weights_need_grad)
    images = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    theirs = dict(model.visual.named_parameters()) if weights_need_grad else {}
    ours = dict(tower.named_parameters()) if weights_need_grad else {}
    out_a, grad_a, weight_grads_a = embeddings_and_gradients(model.encode_image, theirs, images)
    out_b, grad_b, weight_grads_b = embeddings_and_gradients(tower.encode_image, ours, images)
    torch.testing.assert_close(out_b, out_a, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_b, grad_a, rtol=1e-5, atol=1e-7)
    assert weight_grads_a.keys() == weight_grads_b.keys()
    for name in weight_grads_a:
        torch.testing.assert_close(weight_grads_b[name], weight_grads_a[name], rtol=1e-4, atol=1e-6)


def test_vit_b_32_loads_strictly_and_matches():
    """The real architecture (OpenAI's ViT-B/32): same state-dict keys and shapes, same embedding."""
    model = open_clip.create_model(report.DEFAULT_CLIP, pretrained=None).eval()
    tower = from_open_clip(model.visual)
    assert len(tower.transformer.resblocks) == 12 and tower.transformer.resblocks[0].attn.num_heads == 12
    assert tower.transformer.resblocks[0].attn.batch_first is False
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():  # (without grad, nn.MultiheadAttention may take its fused path: float rounding differs)
        torch.testing.assert_close(tower.encode_image(images), model.encode_image(images), rtol=1e-4, atol=1e-5)


def test_in_projection_is_one_matmul():
    """No bmm over an expanded weight: the sequence-first in-projection folds to a 2-D matmul (PROFILE.md)."""
    model = small_clip()
    model.requires_grad_(False)  # the case where open_clip's batch-first tower runs a bmm
    tower = from_open_clip(model.visual)
    images = torch.randn(2, 3, 64, 64, requires_grad=True)
    with profile() as prof:
        tower.encode_image(images).sum().backward()
    assert "aten::bmm" not in {event.key for event in prof.key_averages()}


def test_half_weights_as_clip_load_gives_them_on_cuda():
    model = small_clip()
    model.visual = from_open_clip(model.visual)
    to_clip_load_half(model)
    tower = model.visual
    half = [tower.conv1.weight, tower.proj, model.text_projection, tower.transformer.resblocks[0].attn.in_proj_weight,
            tower.transformer.resblocks[0].attn.in_proj_bias, tower.transformer.resblocks[0].attn.out_proj.weight,
            tower.transformer.resblocks[0].mlp.c_fc.weight, tower.transformer.resblocks[0].mlp.c_proj.bias]
    full = [tower.class_embedding, tower.positional_embedding, tower.ln_pre.weight, tower.ln_post.bias,
            tower.transformer.resblocks[0].ln_1.weight, model.logit_scale, model.token_embedding.weight]
    assert all(p.dtype == torch.float16 for p in half)
    assert all(p.dtype == torch.float32 for p in full)
    assert tower.dtype == torch.float16


def test_half_tower_close_to_fp32():
    model = small_clip()
    tower32 = from_open_clip(model.visual)
    tower16 = from_open_clip(model.visual, half=True)
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out16 = tower16.encode_image(images)  # fp32 input, cast inside as CLIP.encode_image does
        out32 = tower32.encode_image(images)
    assert out16.dtype == torch.float16
    torch.testing.assert_close(out16.float(), out32, rtol=2e-2, atol=2e-2)


def test_only_class_token_vits():
    model = small_clip()
    model.visual.pool_type = "avg"
    with pytest.raises(ValueError):
        from_open_clip(model.visual)


# --- the bench's settings flags: built by the command line's helper from StyleSettings -----------------------------


def parser_of(module) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(formatter_class=report.HelpFormatter, conflict_handler="resolve")
    module.add_arguments(parser)
    return parser


@pytest.mark.parametrize("module", [optimize, reference, pairs])
def test_every_setting_has_its_command_line_flag(module):
    parser = parser_of(module)
    options = {option for action in parser._actions for option in action.option_strings}
    assert set(FLAGS.values()) <= options
    help_text = " ".join(parser.format_help().split())
    assert "1-4 % faster" in help_text and "%%" not in help_text  # a literal % shows once, not escaped twice


def test_bench_flags_give_settings_and_keep_bench_steps():
    args = parser_of(optimize).parse_args(["--crops", "8", "--crop-batch", "4", "--compile", "--lambda-tv", "0.01"])
    settings = optimize.settings_from(args)
    assert (settings.num_crops, settings.crop_batch, settings.torch_compile, settings.lambda_tv) == (8, 4, True, 0.01)
    assert settings.steps == 5  # the benchmark's --steps (steps to time), not the product's 200
    assert parser_of(reference).parse_args([]).steps == 3


def test_settings_argv_round_trips():
    settings = StyleSettings(size=256, num_crops=16, lambda_tv=0.0125, torch_compile=True, reference_lr_schedule=False,
                             global_view="squash")
    args = parser_of(optimize).parse_args(report.settings_argv(settings) + ["--steps", str(settings.steps)])
    assert optimize.settings_from(args) == settings


def test_reference_takes_only_what_the_authors_loop_has():
    settings = StyleSettings(size=256, num_crops=16, crop_batch=4, precision="bf16")
    args = parser_of(pairs).parse_args(["--size", "256", "--crops", "16", "--crop-batch", "4", "--precision", "bf16"])
    argv = pairs.command("reference", args, report.settings_from(args))
    assert "--crop-batch" not in argv and "--precision" not in argv and argv[argv.index("--crops") + 1] == "16"
    assert set(reference.unmodelled(settings)) == {FLAGS["crop_batch"], FLAGS["precision"]}
    assert reference.unmodelled(StyleSettings(size=256, num_crops=16, lambda_dir=10.0)) == []


def test_openai_tower_type():
    assert isinstance(from_open_clip(small_clip().visual), OpenAIImageTower)
