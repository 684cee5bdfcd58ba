"""A COST MODEL of the authors' training loop (train_CLIPstyler.py), for measuring our speed-up on the same machine.

This is not the product and not used by it: it only reproduces what the reference spends time and memory on, with
random weights of the same architectures:
- CLIP in the layout of OpenAI's `clip` package, which the authors load with `clip.load("ViT-B/32", jit=False)`:
  the image tower runs its transformer sequence-first, with nn.MultiheadAttention called as OpenAI's
  clip/model.py calls it (bench/openai_clip.py; the same function as open_clip's tower on the same weights,
  tested in tests/bench/test_reference_layout.py). On CUDA its weights are fp16, as clip.load leaves them there
  (the input is cast to fp16, layer norms run in fp32); on the CPU fp32, as clip.load gives there;
- CLIP's weights keep requires_grad=True (the authors never freeze CLIP), so every backward also computes the
  gradients of all ViT weights;
- VGG-19 runs all 37 layers of `features` (their get_features walks every module; only conv4_2/conv5_2 are used,
  read through torchvision's in-place ReLUs as in their code), in fp32;
- the crops are made one at a time in a Python loop: RandomCrop -> RandomPerspective(p=1, fill 0) ->
  Resize(224) from torchvision.transforms, then concatenated;
- the crops and the global view go through CLIP in two separate passes, each through their clip_normalize
  (a bicubic F.interpolate to 224, then mean/std);
- the image squashed to size x size, Adam + StepLR stepped before the optimizer, one backward of the whole loss.
Same StyleNet (clipstyler.stylenet has the authors' layout) and the same CLIP architecture as `bench optimize`.

It takes the optimisation settings the authors' loop has (MODELLED: size, crops, crop size, the loss weights,
threshold, learning rate and schedule, distortion, StyleNet width) from the same StyleSettings flags as
`bench optimize`; the others (crop_batch, precision, compile, ...) are this pack's and are refused here.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable

import open_clip
import torch
import torch.nn.functional as F
from torchvision import transforms
from torchvision.models import vgg19

from clipstyler.cli import FLAGS
from clipstyler.clip.model import OPENAI_MEAN, OPENAI_STD
from clipstyler.image import resize
from clipstyler.image_io import load_image
from clipstyler.settings import StyleSettings
from clipstyler.stylenet import build_stylenet

from . import report
from .openai_clip import from_open_clip, to_clip_load_half

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CONTENT_LAYERS = ("21", "31")  # the reference's conv4_2 and conv5_2 keys
# The StyleSettings fields the authors' loop has (as flags or fixed values); steps is the benchmark's --steps.
MODELLED = ("steps", "size", "crop_size", "num_crops", "distortion", "threshold", "lambda_patch", "lambda_dir",
            "lambda_content", "lambda_tv", "lr", "lr_step_size", "lr_gamma", "ngf")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    report.add_settings_arguments(parser)
    parser.add_argument("--steps", type=int, default=3, help="optimisation steps to time (default 3; >= 2 for "
                        "s_per_step)")
    report.add_common_arguments(parser, "content image")
    parser.add_argument("--clip", default=report.DEFAULT_CLIP, help="open_clip architecture of an OpenAI-style ViT, "
                        f"random weights (default {report.DEFAULT_CLIP}: OpenAI's ViT-B/32)")


def unmodelled(settings: StyleSettings) -> list[str]:
    """The flags of settings that differ from the defaults but that the authors' loop does not have."""
    defaults = StyleSettings()
    return [FLAGS[name] for name in settings.to_dict()
            if name not in MODELLED and getattr(settings, name) != getattr(defaults, name)]


def _normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    mean = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
    return (images - mean) / std


def clip_normalize(images: torch.Tensor) -> torch.Tensor:
    """The reference's clip_normalize: bicubic to 224 (even when already 224), then CLIP's mean/std."""
    return _normalize(F.interpolate(images, size=224, mode="bicubic"), OPENAI_MEAN, OPENAI_STD)


def vgg_features(images: torch.Tensor, vgg: torch.nn.Sequential) -> dict[str, torch.Tensor]:
    """The reference's get_features: every layer of VGG-19 `features` runs; keep the content layers' outputs."""
    features, x = {}, _normalize(images, IMAGENET_MEAN, IMAGENET_STD)
    for name, layer in vgg._modules.items():
        x = layer(x)
        if name in CONTENT_LAYERS:
            features[name] = x
    return features


def make_augmentations(crop_size: int, distortion: float = 0.5):
    """The reference's two torchvision pipelines. Resize without antialias: tensor Resize did not antialias in the
    torchvision of the authors' time (and this is an upsampling anyway)."""
    cropper = transforms.Compose([transforms.RandomCrop(crop_size)])
    augment = transforms.Compose([
        transforms.RandomPerspective(fill=0, p=1, distortion_scale=distortion),
        transforms.Resize(224, antialias=False),
    ])
    return cropper, augment


def build_models(clip_name: str, device: torch.device):
    """CLIP as clip.load gives it (OpenAI's image tower layout; fp16 weights on CUDA, fp32 on the CPU) with trainable
    weights, as the reference leaves them, and the full frozen VGG-19 features (fp32)."""
    clip = open_clip.create_model(clip_name, pretrained=None)  # plain open_clip, without clipstyler's speed-ups
    half = device.type == "cuda"
    clip.visual = from_open_clip(clip.visual)  # the text tower stays resident, as in their process
    if half:
        to_clip_load_half(clip)
    clip = clip.to(device).eval()
    clip.requires_grad_(True)
    vgg = vgg19(weights=None).features.to(device).eval()
    vgg.requires_grad_(False)
    return clip, vgg


def text_direction(clip, device: torch.device) -> torch.Tensor:
    """A unit text direction (1, D) in CLIP's dtype. The reference encodes 2 x 79 prompt templates once; that is
    setup, not the per-step cost, so a random direction of CLIP's width stands in for it here."""
    width = clip.visual.proj.shape[1]
    direction = torch.randn(1, width, generator=torch.Generator().manual_seed(0)).to(device)
    return (direction / direction.norm(dim=-1, keepdim=True)).to(clip.visual.dtype)


def reference_step(content, content_features, source_features, direction, net, clip, vgg, cropper, augment,
                   settings: StyleSettings, optimizer, scheduler) -> torch.Tensor:
    """One step of the authors' loop, in their order. Returns the total loss (detached)."""
    scheduler.step()
    target = net(content)
    target_features = vgg_features(target, vgg)
    content_loss = sum(torch.mean((target_features[k] - content_features[k]) ** 2) for k in CONTENT_LAYERS)
    img_aug = torch.cat([augment(cropper(target)) for _ in range(settings.num_crops)], dim=0)
    image_features = clip.encode_image(clip_normalize(img_aug))
    image_features = image_features / image_features.clone().norm(dim=-1, keepdim=True)
    img_direction = image_features - source_features
    img_direction = img_direction / img_direction.clone().norm(dim=-1, keepdim=True)
    text_dir = direction.repeat(image_features.size(0), 1)
    loss_temp = 1 - torch.cosine_similarity(img_direction, text_dir, dim=1)
    loss_temp[loss_temp < settings.threshold] = 0
    loss_patch = loss_temp.mean()
    glob_features = clip.encode_image(clip_normalize(target))
    glob_features = glob_features / glob_features.clone().norm(dim=-1, keepdim=True)
    glob_direction = glob_features - source_features
    glob_direction = glob_direction / glob_direction.clone().norm(dim=-1, keepdim=True)
    loss_glob = (1 - torch.cosine_similarity(glob_direction, text_dir, dim=1)).mean()
    diffs = (target[:, :, :, :-1] - target[:, :, :, 1:], target[:, :, :-1, :] - target[:, :, 1:, :],
             target[:, :, 1:, :-1] - target[:, :, :-1, 1:], target[:, :, :-1, :-1] - target[:, :, 1:, 1:])
    reg_tv = settings.lambda_tv * sum(torch.norm(d) for d in diffs)
    total = (settings.lambda_patch * loss_patch + settings.lambda_content * content_loss + reg_tv
             + settings.lambda_dir * loss_glob)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    return total.detach()


def build_loop(settings: StyleSettings, image: str, clip_name: str,
               device: torch.device) -> Callable[[], torch.Tensor]:
    """Everything the reference sets up before its loop; returns one step of it (the total loss, detached). Reads
    only the MODELLED fields of `settings`."""
    torch.manual_seed(0)  # torchvision's transforms draw from the global generator
    clip, vgg = build_models(clip_name, device)
    content = resize(load_image(image), (settings.size, settings.size)).to(device)
    with torch.no_grad():
        content_features = vgg_features(content, vgg)
        source_features = clip.encode_image(clip_normalize(content))
        source_features = source_features / source_features.norm(dim=-1, keepdim=True)
    direction = text_direction(clip, device)
    net = build_stylenet(settings.ngf, seed=0).to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.lr_step_size, gamma=settings.lr_gamma)
    cropper, augment = make_augmentations(settings.crop_size, settings.distortion)
    return functools.partial(reference_step, content, content_features, source_features, direction, net, clip, vgg,
                             cropper, augment, settings, optimizer, scheduler)


def run(args: argparse.Namespace) -> dict:
    """Time the reference cost model; returns the result dict (also printed)."""
    settings = report.settings_from(args)
    refused = unmodelled(settings)
    if refused:
        raise SystemExit(f"python -m bench reference: {', '.join(refused)}: the authors' loop has no such setting "
                         "(it is this pack's); the cost model runs their loop as it is")
    report.set_threads(args.threads)
    device = torch.device(args.device)
    report.reset_peak_memory(device)
    start = report.now(device)
    step = build_loop(settings, args.image, args.clip, device)
    loop_start = report.now(device)
    other_load = report.OtherLoad()
    stamps = []
    for _ in range(args.steps):
        step()
        stamps.append(report.now(device))
        report.progress(len(stamps), args.steps, stamps)
    result = {
        "benchmark": "reference",
        "note": "cost model of the authors' loop, not the product",
        "setup_s": round(loop_start - start, 4),
        **report.step_figures(loop_start, stamps),
        "peak_mem_mb": round(report.peak_memory_mb(device), 1),
        "size": settings.size,
        "image": args.image.rsplit("/", 1)[-1],
        "crops": settings.num_crops,
        "crop_size": settings.crop_size,
        "steps": args.steps,
        "clip": args.clip,
        "clip_layout": "OpenAI's clip package: sequence-first transformer",
        "precision": "fp16 CLIP weights (clip.load on CUDA), fp32 VGG and StyleNet" if device.type == "cuda"
        else "fp32",
        "settings": {name: getattr(settings, name) for name in MODELLED},
        **report.environment(device, other_load),
    }
    report.emit("reference COST MODEL (authors' loop, not the product)", result, hide=("settings",))
    return result
