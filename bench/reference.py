"""A COST MODEL of the authors' training loop (train_CLIPstyler.py), for measuring our speed-up on the same machine.

This is not the product and not used by it: it only reproduces what the reference spends time and memory on, with
random weights of the same architectures:
- CLIP's weights keep requires_grad=True (the authors never freeze CLIP), so every backward also computes the
  gradients of all ViT weights;
- VGG-19 runs all 37 layers of `features` (their get_features walks every module; only conv4_2/conv5_2 are used,
  read through torchvision's in-place ReLUs as in their code);
- the crops are made one at a time in a Python loop: RandomCrop -> RandomPerspective(0.5, p=1, fill 0) ->
  Resize(224) from torchvision.transforms, then concatenated;
- the crops and the global view go through CLIP in two separate passes, each through their clip_normalize
  (a bicubic F.interpolate to 224, then mean/std);
- fp32, the image squashed to size x size, Adam + StepLR, one backward of the whole loss;
- plain open_clip CLIP (without clipstyler.clip_speedups).
Same StyleNet (clipstyler.stylenet has the authors' layout) and the same CLIP architecture as `bench optimize`.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torchvision import transforms
from torchvision.models import vgg19

from clipstyler.clip_loading import random_clip
from clipstyler.clip_model import OPENAI_MEAN, OPENAI_STD
from clipstyler.image import resize
from clipstyler.image_io import load_image
from clipstyler.stylenet import build_stylenet

from . import report
from .optimize import without_clip_speedups

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CONTENT_LAYERS = ("21", "31")  # the reference's conv4_2 and conv5_2 keys
# The reference's weights and threshold (their defaults: lambda_patch 9000, lambda_dir 500, content 150, tv 2e-3).
LAMBDA_PATCH, LAMBDA_DIR, LAMBDA_CONTENT, LAMBDA_TV, THRESHOLD, LR = 9000.0, 500.0, 150.0, 2e-3, 0.7, 5e-4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=512, help="the square side the image is squashed to (default 512)")
    parser.add_argument("--crops", type=int, default=64, help="crops per step (default 64)")
    parser.add_argument("--crop-size", type=int, default=128, help="crop side in px (default 128)")
    parser.add_argument("--steps", type=int, default=3, help="optimisation steps (default 3; >= 2 for s_per_step)")
    report.add_common_arguments(parser, "content image")
    parser.add_argument("--clip", default="ViT-B-32", help="open_clip architecture, random weights (default ViT-B-32)")


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


def make_augmentations(crop_size: int):
    """The reference's two torchvision pipelines. Resize without antialias: tensor Resize did not antialias in the
    torchvision of the authors' time (and this is an upsampling anyway)."""
    cropper = transforms.Compose([transforms.RandomCrop(crop_size)])
    augment = transforms.Compose([
        transforms.RandomPerspective(fill=0, p=1, distortion_scale=0.5),
        transforms.Resize(224, antialias=False),
    ])
    return cropper, augment


def build_models(clip_name: str, device: torch.device):
    """CLIP with trainable weights (as the reference leaves them) and the full frozen VGG-19 features."""
    with without_clip_speedups():  # the authors' CLIP is plain
        clip = random_clip(clip_name).model.to(device).eval()
    clip.requires_grad_(True)
    vgg = vgg19(weights=None).features.to(device).eval()
    vgg.requires_grad_(False)
    return clip, vgg


def text_direction(clip, device: torch.device) -> torch.Tensor:
    """A unit text direction (1, D). The reference encodes 2 x 79 prompt templates once; that is setup, not the
    per-step cost, so a random direction of CLIP's width stands in for it here."""
    with torch.no_grad():
        width = clip.encode_image(torch.zeros(1, 3, 224, 224, device=device)).shape[-1]
    direction = torch.randn(1, width, generator=torch.Generator().manual_seed(0)).to(device)
    return direction / direction.norm(dim=-1, keepdim=True)


def reference_step(content, content_features, source_features, direction, net, clip, vgg, cropper, augment,
                   crops, optimizer, scheduler) -> torch.Tensor:
    """One step of the authors' loop, in their order. Returns the total loss (detached)."""
    scheduler.step()
    target = net(content)
    target_features = vgg_features(target, vgg)
    content_loss = sum(torch.mean((target_features[k] - content_features[k]) ** 2) for k in CONTENT_LAYERS)
    img_aug = torch.cat([augment(cropper(target)) for _ in range(crops)], dim=0)
    image_features = clip.encode_image(clip_normalize(img_aug))
    image_features = image_features / image_features.clone().norm(dim=-1, keepdim=True)
    img_direction = image_features - source_features
    img_direction = img_direction / img_direction.clone().norm(dim=-1, keepdim=True)
    text_dir = direction.repeat(image_features.size(0), 1)
    loss_temp = 1 - torch.cosine_similarity(img_direction, text_dir, dim=1)
    loss_temp[loss_temp < THRESHOLD] = 0
    loss_patch = loss_temp.mean()
    glob_features = clip.encode_image(clip_normalize(target))
    glob_features = glob_features / glob_features.clone().norm(dim=-1, keepdim=True)
    glob_direction = glob_features - source_features
    glob_direction = glob_direction / glob_direction.clone().norm(dim=-1, keepdim=True)
    loss_glob = (1 - torch.cosine_similarity(glob_direction, text_dir, dim=1)).mean()
    diffs = (target[:, :, :, :-1] - target[:, :, :, 1:], target[:, :, :-1, :] - target[:, :, 1:, :],
             target[:, :, 1:, :-1] - target[:, :, :-1, 1:], target[:, :, :-1, :-1] - target[:, :, 1:, 1:])
    reg_tv = LAMBDA_TV * sum(torch.norm(d) for d in diffs)
    total = LAMBDA_PATCH * loss_patch + LAMBDA_CONTENT * content_loss + reg_tv + LAMBDA_DIR * loss_glob
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    return total.detach()


def build_loop(args: argparse.Namespace, device: torch.device) -> Callable[[], torch.Tensor]:
    """Everything the reference sets up before its loop; returns one step of it (the total loss, detached)."""
    torch.manual_seed(0)  # torchvision's transforms draw from the global generator
    clip, vgg = build_models(args.clip, device)
    content = resize(load_image(args.image), (args.size, args.size)).to(device)
    with torch.no_grad():
        content_features = vgg_features(content, vgg)
        source_features = clip.encode_image(clip_normalize(content))
        source_features = source_features / source_features.norm(dim=-1, keepdim=True)
    direction = text_direction(clip, device)
    net = build_stylenet(seed=0).to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=100, gamma=0.5)
    cropper, augment = make_augmentations(args.crop_size)
    return functools.partial(reference_step, content, content_features, source_features, direction, net, clip, vgg,
                             cropper, augment, args.crops, optimizer, scheduler)


def run(args: argparse.Namespace) -> dict:
    """Time the reference cost model; returns the result dict (also printed)."""
    report.set_threads(args.threads)
    device = torch.device(args.device)
    report.reset_peak_memory(device)
    start = report.now(device)
    step = build_loop(args, device)
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
        "size": args.size,
        "image": args.image.rsplit("/", 1)[-1],
        "crops": args.crops,
        "crop_size": args.crop_size,
        "steps": args.steps,
        "clip": args.clip,
        "precision": "fp32",
        **report.environment(device, other_load),
    }
    report.emit("reference COST MODEL (authors' loop, not the product)", result)
    return result
