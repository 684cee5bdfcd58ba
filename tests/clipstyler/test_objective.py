"""One step of the optimised objective against a plain, crop-by-crop computation of docs/METHOD.md's formulas."""

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from clipstyler.augment import sample_patch_params
from clipstyler.objective import StyleObjective
from clipstyler.settings import StyleSettings
from clipstyler.stylenet import build_stylenet

MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
SETTINGS = dict(size=64, crop_size=32, num_crops=8, threshold=0.7)


def encode(clip, image_224):
    return F.normalize(clip.model.encode_image((image_224 - MEAN) / STD), dim=-1)


def spec_total_loss(net, content, clip, vgg, target, params, s: StyleSettings):
    """docs/METHOD.md literally: per crop crop -> warp -> resize -> CLIP, directions, threshold, four weighted terms."""
    out = net(content)
    source = encode(clip, F.interpolate(content, size=(224, 224), mode="bicubic", align_corners=False))
    dt = target.direction
    patch_losses = []
    for i in range(len(params)):
        top, left = int(params.top[i]), int(params.left[i])
        crop = out[:, :, top:top + s.crop_size, left:left + s.crop_size]
        # the authors' call: RandomPerspective applies torchvision's perspective with these corner points
        warped = TF.perspective(crop, *params.corner_points(i), InterpolationMode.BILINEAR, [0.0] * 3)
        crop224 = F.interpolate(warped, size=(224, 224), mode="bilinear", align_corners=False)
        direction = F.normalize(encode(clip, crop224) - source, dim=-1)
        loss = 1 - (direction * dt).sum()
        patch_losses.append(loss if loss >= s.threshold else loss * 0)
    l_patch = torch.stack(patch_losses).mean()
    glob = encode(clip, F.interpolate(out, size=(224, 224), mode="bicubic", align_corners=False))
    l_dir = 1 - (F.normalize(glob - source, dim=-1) * dt).sum()
    l_c = sum(F.mse_loss(a, b) for a, b in zip(vgg(out), vgg(content)))
    x = out
    l_tv = sum(torch.norm(d) for d in (x[:, :, :, :-1] - x[:, :, :, 1:], x[:, :, :-1, :] - x[:, :, 1:, :],
                                        x[:, :, 1:, :-1] - x[:, :, :-1, 1:], x[:, :, :-1, :-1] - x[:, :, 1:, 1:]))
    return s.lambda_patch * l_patch + s.lambda_dir * l_dir + s.lambda_content * l_c + s.lambda_tv * l_tv


def gradient(net):
    return torch.cat([p.grad.flatten() for p in net.parameters()])


def run_ours(clip, vgg, target, content, params, **overrides):
    settings = StyleSettings(**{**SETTINGS, **overrides})
    net = build_stylenet(seed=0)
    if settings.channels_last:  # as train_stylenet does
        net, content = net.to(memory_format=torch.channels_last), content.contiguous(memory_format=torch.channels_last)
    objective = StyleObjective(clip, vgg, target, content, settings, settings.precision)
    losses = objective.backward(net(content), params)
    return losses, gradient(net)


@pytest.fixture
def case(clip, vgg, target):
    content = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    params = sample_patch_params(8, (64, 64), 32, 0.5, 1, torch.Generator().manual_seed(1))
    return clip, vgg, target, content, params


@pytest.mark.parametrize("threshold", [0.0, 0.7, 1.0])
def test_matches_plain_spec_formulas(case, threshold):
    clip, vgg, target, content, params = case
    settings = StyleSettings(**{**SETTINGS, "threshold": threshold})
    reference_net = build_stylenet(seed=0)
    expected = spec_total_loss(reference_net, content, clip, vgg, target, params, settings)
    expected.backward()
    losses, grad = run_ours(clip, vgg, target, content, params, threshold=threshold)
    assert losses["total"].item() == pytest.approx(expected.item(), rel=1e-4)
    assert torch.allclose(grad, gradient(reference_net), rtol=1e-4, atol=1e-4 * gradient(reference_net).abs().max())


@pytest.mark.parametrize("crop_batch", [1, 3, 5])
def test_chunked_crops_give_the_same_loss_and_gradient(case, crop_batch):
    whole_losses, whole = run_ours(*case)
    chunk_losses, chunked = run_ours(*case, crop_batch=crop_batch)
    for name in whole_losses:
        assert chunk_losses[name].item() == pytest.approx(whole_losses[name].item(), rel=1e-5)
    assert torch.allclose(chunked, whole, rtol=1e-4, atol=1e-5 * whole.abs().max())


@pytest.mark.parametrize("option", ["channels_last", "torch_compile"])
def test_speed_options_give_the_same_loss_and_gradient(case, option):
    plain_losses, plain = run_ours(*case)
    losses, grad = run_ours(*case, **{option: True})
    for name in plain_losses:
        assert losses[name].item() == pytest.approx(plain_losses[name].item(), rel=1e-5)
    # NHWC convolutions and compiled kernels sum in another order: the relative 1e-4
    assert torch.allclose(grad, plain, rtol=1e-4, atol=1e-4 * plain.abs().max())


def test_every_stylenet_parameter_gets_a_gradient(case):
    _, grad = run_ours(*case, threshold=0.0)
    assert torch.isfinite(grad).all()
    net = build_stylenet(seed=0)
    clip, vgg, target, content, params = case
    StyleObjective(clip, vgg, target, content, StyleSettings(**{**SETTINGS, "threshold": 0.0})).backward(
        net(content), params)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_clip_and_vgg_get_no_gradients(case):
    clip, vgg, *_ = case
    run_ours(*case)
    assert all(p.grad is None for p in clip.model.parameters())
    assert all(p.grad is None for p in vgg.parameters())


@pytest.mark.parametrize("precision", ["auto", "fp32", "bf16", "fp16"])
def test_every_precision_runs(case, precision):
    losses, grad = run_ours(*case, precision=precision if precision != "auto" else "fp32")
    assert torch.isfinite(grad).all()
    reference, _ = run_ours(*case)
    assert losses["total"].item() == pytest.approx(reference["total"].item(), rel=0.05)


def test_target_from_another_clip_is_a_clear_error(case, target):
    clip, vgg, _, content, _ = case
    foreign = type(target)("fire", "a Photo", torch.ones(7) / 7**0.5, "other")
    with pytest.raises(ValueError, match="same CLIP"):
        StyleObjective(clip, vgg, foreign, content, StyleSettings(**SETTINGS))


def test_models_loaded_under_inference_mode_can_train(tiny_clip_file, vgg_file, case):
    import clipstyler

    with torch.inference_mode():  # as ComfyUI loads models in its nodes
        clip = clipstyler.load_clip_file(tiny_clip_file)
        vgg = clipstyler.load_vgg19(vgg_file)
        target = clipstyler.encode_style_target(clip, "white wool")
    _, _, _, content, params = case
    losses, grad = run_ours(clip, vgg, target, content, params)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
