import contextlib
import math

import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import clipstyler.fast_train as fast_train
import clipstyler.optimize as optimize
from clipstyler.adain import FastStyleNet
from clipstyler.clip.model import StylerCLIP
from clipstyler.fast_settings import FastSettings
from clipstyler.frozen_weights import autocast_cast_weights, frozen_weights_in
from clipstyler.settings import StyleSettings


def _mixed_model() -> nn.Module:
    """Every kind of parameter: layers autocast casts, layers it keeps in fp32, and a trainable layer."""
    torch.manual_seed(0)
    model = nn.ModuleDict({
        "conv": nn.Conv2d(3, 4, 3), "linear": nn.Linear(4, 4), "attention": nn.MultiheadAttention(4, 2),
        "norm": nn.LayerNorm(4), "group_norm": nn.GroupNorm(2, 4), "embedding": nn.Embedding(5, 4),
        "trainable": nn.Linear(4, 4),
    })
    for name, module in model.items():
        module.requires_grad_(name == "trainable")
    model.class_token = nn.Parameter(torch.randn(4), requires_grad=False)  # a raw parameter, used in additions
    return model


def _dtypes(model: nn.Module) -> dict[str, torch.dtype]:
    return {name: parameter.dtype for name, parameter in model.named_parameters()}


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_only_the_frozen_layer_weights_autocast_casts_change_and_the_same_tensors_come_back(precision, dtype):
    model = _mixed_model()
    before = {name: (parameter.data, parameter.data.clone()) for name, parameter in model.named_parameters()}
    cast = {"conv.weight", "conv.bias", "linear.weight", "linear.bias", "attention.in_proj_weight",
            "attention.in_proj_bias", "attention.out_proj.weight", "attention.out_proj.bias"}
    with frozen_weights_in(precision, model) as converted:
        inside = _dtypes(model)
        assert len(converted) == len(cast)
        for name, parameter in model.named_parameters():
            if name in cast:
                assert torch.equal(parameter.data, before[name][1].to(dtype))  # what autocast would have made
    assert inside == {name: dtype if name in cast else torch.float32 for name in before}
    for name, parameter in model.named_parameters():
        assert parameter.data_ptr() == before[name][0].data_ptr()  # the very tensors, not a round trip through bf16
        assert torch.equal(parameter.data, before[name][1])


def test_fp32_changes_nothing():
    model = _mixed_model()
    with frozen_weights_in("fp32", model) as converted:
        assert converted == []
        assert set(_dtypes(model).values()) == {torch.float32}


def test_the_weights_come_back_after_an_error_or_a_cancel():
    model = _mixed_model()
    weight = model["conv"].weight.data_ptr()
    with pytest.raises(KeyboardInterrupt), frozen_weights_in("bf16", model):
        assert model["conv"].weight.dtype == torch.bfloat16
        raise KeyboardInterrupt
    assert model["conv"].weight.dtype == torch.float32 and model["conv"].weight.data_ptr() == weight


def test_a_weight_shared_by_two_models_is_converted_once():
    shared = nn.Linear(4, 4).requires_grad_(False)
    first, second = nn.Sequential(shared), nn.Sequential(nn.ReLU(), shared)
    assert len(autocast_cast_weights([first, second])) == 2  # weight and bias, once each
    with frozen_weights_in("bf16", first, second):
        assert shared.weight.dtype == torch.bfloat16
    assert shared.weight.dtype == torch.float32


class _FrozenWeightCasts(TorchDispatchMode):
    """Counts the elements of the given weights cast to a lower precision, as autocast casts them (aten._to_copy; the
    last CLIP block casts its packed in-projection in two parts, so calls are not counted)."""

    def __init__(self, weights: list[torch.Tensor]) -> None:
        super().__init__()
        self.storages = {weight.untyped_storage().data_ptr() for weight in weights}
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        source = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if (func is torch.ops.aten._to_copy.default and source is not None and source.dtype == torch.float32
                and kwargs.get("dtype") in (torch.bfloat16, torch.float16)
                and source.untyped_storage().data_ptr() in self.storages):
            self.elements += source.numel()
        return func(*args, **kwargs)


def _no_frozen_weight_casting(monkeypatch, module):
    monkeypatch.setattr(module, "frozen_weights_in", lambda precision, *models: contextlib.nullcontext())


def _bf16_run(clip, vgg, target, steps=2):
    settings = StyleSettings(steps=steps, size=32, crop_size=16, num_crops=4, crop_batch=2, precision="bf16", seed=3)
    history = []
    net, _ = optimize.train_stylenet(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)), clip,
                                     vgg, target, settings, "cpu",
                                     callback=lambda report: history.append(dict(report.losses)))
    return net, history


def test_a_bf16_run_gives_the_same_bits_with_the_weights_cast_once(clip, vgg, target, monkeypatch):
    """The casts made once are those autocast made at each pass, so the run is unchanged to the last bit."""
    net, history = _bf16_run(clip, vgg, target)
    _no_frozen_weight_casting(monkeypatch, optimize)
    net_per_pass, history_per_pass = _bf16_run(clip, vgg, target)
    assert history == history_per_pass
    for (name, weight), per_pass in zip(net.state_dict().items(), net_per_pass.state_dict().values()):
        assert torch.equal(weight, per_pass), name
    assert all(p.dtype == torch.float32 for p in (*clip.model.parameters(), *vgg.parameters()))


def test_a_bf16_step_no_longer_casts_clip_and_vgg_weights_at_every_pass(clip, vgg, target, monkeypatch):
    """Autocast re-cast every frozen layer weight at each pass: CLIP once for the global view and once per crop
    chunk (1 + 4 / 2 here) and once for the content at the start, VGG for the output and the content. Cast once for
    the run, each is cast once."""
    frozen = [[p.data for p in autocast_cast_weights([model])] for model in (clip.image_tower, vgg)]
    counters = [_FrozenWeightCasts(weights) for weights in frozen]

    def count_one_step(counter):
        with counter:
            _bf16_run(clip, vgg, target, steps=1)
        return counter.elements

    assert len(frozen[0]) == 1 + 8  # the patch embedding; the one block's qkv, out and 2 MLP weights and biases
    sizes = [sum(weight.numel() for weight in weights) for weights in frozen]
    assert count_one_step(_FrozenWeightCasts(frozen[0] + frozen[1])) == sizes[0] + sizes[1]
    _no_frozen_weight_casting(monkeypatch, optimize)
    clip_passes = 1 + math.ceil(4 / 2) + 1  # the step's passes and the content's embedding at the start
    vgg_passes = 1 + 1  # the output's features, and the content's at the start
    assert count_one_step(counters[0]) == clip_passes * sizes[0]
    assert count_one_step(counters[1]) == vgg_passes * sizes[1]


def test_fast_training_in_bf16_gives_the_same_bits_with_clip_cast_once(clip, target, monkeypatch):
    images = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    settings = FastSettings(steps=2, crop_size=32, batch_size=1, num_views=2, view_batch=1, precision="bf16")

    def run():
        torch.manual_seed(0)
        return fast_train.train_fast_stylenet(images, clip, target, FastStyleNet(), settings, "cpu")

    net, losses = run()
    _no_frozen_weight_casting(monkeypatch, fast_train)
    net_per_pass, losses_per_pass = run()
    assert losses == losses_per_pass
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), net_per_pass.state_dict().values()))


@pytest.mark.parametrize("vision", [
    CLIPVisionCfg(layers=1, width=64, patch_size=32, image_size=64),  # ViT (its speed-ups split the in-projection)
    CLIPVisionCfg(layers=(1, 1, 1, 1), width=8, head_width=8, image_size=64),  # ResNet: attention pool, batch norms
], ids=["vit", "resnet"])
def test_clip_towers_give_the_same_bits_with_their_weights_cast_once(vision):
    torch.manual_seed(0)
    model = CLIP(32, vision, CLIPTextCfg(context_length=8, vocab_size=64, width=32, heads=1, layers=1))
    clip = StylerCLIP(model, tokenizer=None, name="tiny", image_size=64)
    images = torch.rand(2, 3, 64, 64)

    def embedding_and_gradient(cast_once: bool):
        x = images.clone().requires_grad_(True)
        with frozen_weights_in("bf16" if cast_once else "fp32", clip.image_tower) as converted:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                embedding = clip.encode_image(x)
            embedding.float().square().sum().backward()
        return embedding, x.grad, len(converted)

    embedding, gradient, converted = embedding_and_gradient(True)
    embedding_per_pass, gradient_per_pass, _ = embedding_and_gradient(False)
    assert converted > 0
    assert torch.equal(embedding, embedding_per_pass) and torch.equal(gradient, gradient_per_pass)
