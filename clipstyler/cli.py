"""Command line: `python -m clipstyler stylize IN.png "oil painting" -o OUT.png`, and `apply` for saved styles."""

from __future__ import annotations

import argparse
import logging
import os
import sys

import torch
from tqdm import tqdm

from . import clip_loading
from .apply import apply_stylenet
from .errors import CLIPstylerError
from .image_io import load_image, save_image
from .optimize import StepReport, stylize
from .postprocess import paper_display
from .settings import PRECISIONS, StyleSettings
from .stylenet_file import TrainedStyle, load_style, save_style
from .text import DEFAULT_SOURCE_TEXT, encode_style_target
from .vgg import VGGContent, load_vgg19, load_vgg19_from_folder

DEFAULT_CACHE = os.environ.get("CLIPSTYLER_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "clipstyler"))


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _add_stylize(commands) -> None:
    p = commands.add_parser("stylize", help="optimise a StyleNet on one image for a text (the paper's mode)")
    p.add_argument("image", help="content image file")
    p.add_argument("text", help='style text, e.g. "oil painting by Van Gogh"')
    p.add_argument("-o", "--output", required=True, help="stylized image file to write")
    p.add_argument("--source-text", default=DEFAULT_SOURCE_TEXT, help="what the input looks like now")
    defaults = StyleSettings()
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--size", type=int, default=defaults.size, help="long side of the processing size")
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--crops", type=int, default=defaults.num_crops)
    p.add_argument("--crop-size", type=int, default=defaults.crop_size)
    p.add_argument("--crop-batch", type=int, default=defaults.crop_batch, help="crops per CLIP pass (0: all)")
    p.add_argument("--threshold", type=float, default=defaults.threshold)
    p.add_argument("--lambda-patch", type=float, default=defaults.lambda_patch)
    p.add_argument("--lambda-dir", type=float, default=defaults.lambda_dir)
    p.add_argument("--lambda-content", type=float, default=defaults.lambda_content)
    p.add_argument("--lambda-tv", type=float, default=defaults.lambda_tv)
    p.add_argument("--global-view", choices=("pad", "squash"), default=defaults.global_view)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--precision", choices=PRECISIONS, default=defaults.precision)
    p.add_argument("--compile", action="store_true", help="torch.compile CLIP's image encoder (pays on long runs)")
    p.add_argument("--channels-last", action="store_true", help="NHWC convolutions (same result; for GPUs)")
    p.add_argument("--paper-display", action="store_true", help="the paper's contrast 1.5 + stretch on the output")
    p.add_argument("--save-stylenet", help="also write the trained StyleNet (.safetensors)")
    _add_model_arguments(p)


def _add_apply(commands) -> None:
    p = commands.add_parser("apply", help="stylize images with a saved StyleNet, one forward pass each")
    p.add_argument("stylenet", help=".safetensors written by stylize --save-stylenet or the Save StyleNet node")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("-o", "--output-dir", required=True)
    p.add_argument("--size", type=int, default=0, help="long side for the pass (0: each image's own size)")
    p.add_argument("--device", default=_default_device())


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=_default_device())
    p.add_argument("--clip", default="ViT-B-32/openai", help="open_clip ARCH/TAG to download, or a checkpoint file")
    p.add_argument("--clip-arch", default=clip_loading.AUTO_ARCHITECTURE, help="architecture of a --clip file")
    p.add_argument("--vgg", help="VGG-19 weights file (default: torchvision's, downloaded into the cache)")
    p.add_argument("--cache-dir", default=DEFAULT_CACHE, help="where downloaded weights go")
    p.add_argument("--random-weights", action="store_true", help="random CLIP and VGG (testing only: no style)")


def _load_models(args):
    if args.random_weights:
        return clip_loading.random_clip("ViT-B-32"), VGGContent()
    if os.path.isfile(args.clip):
        clip = clip_loading.load_clip_file(args.clip, args.clip_arch)
    else:
        architecture, _, tag = args.clip.partition("/")
        clip = clip_loading.load_pretrained_clip(architecture, tag, os.path.join(args.cache_dir, "open_clip"))
    vgg = load_vgg19(args.vgg) if args.vgg else load_vgg19_from_folder(os.path.join(args.cache_dir, "vgg"))
    return clip, vgg


def run_stylize(args) -> None:
    settings = StyleSettings(
        steps=args.steps, size=args.size, lr=args.lr, num_crops=args.crops, crop_size=args.crop_size,
        crop_batch=args.crop_batch, threshold=args.threshold, lambda_patch=args.lambda_patch,
        lambda_dir=args.lambda_dir, lambda_content=args.lambda_content, lambda_tv=args.lambda_tv,
        global_view=args.global_view, seed=args.seed, precision=args.precision, torch_compile=args.compile,
        channels_last=args.channels_last,
    )
    image = load_image(args.image)
    clip, vgg = _load_models(args)
    target = encode_style_target(clip.to(args.device), args.text, args.source_text)
    with tqdm(total=settings.steps, desc=args.text[:40], unit="step") as bar:
        def on_step(report: StepReport) -> None:
            bar.update(1)
            if report.step % 10 == 0 or report.step == report.steps:  # reading the loss syncs the device
                bar.set_postfix(loss=f"{float(report.losses['total']):.1f}")
        result = stylize(image, clip, vgg, target, settings, args.device, callback=on_step)
    images = paper_display(result.images) if args.paper_display else result.images
    save_image(images, args.output)
    if args.save_stylenet:
        style = TrainedStyle(result.stylenet, target.style_text, target.source_text, clip.name, settings.to_dict())
        save_style(style, args.save_stylenet)
    print(f"wrote {args.output}")


def run_apply(args) -> None:
    style = load_style(args.stylenet)
    os.makedirs(args.output_dir, exist_ok=True)
    for path in tqdm(args.images, unit="image"):
        result = apply_stylenet(style.stylenet, load_image(path), args.device, size=args.size)
        save_image(result, os.path.join(args.output_dir, os.path.basename(path)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clipstyler", description="Text-driven style transfer (CLIPstyler)")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_stylize(commands)
    _add_apply(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        {"stylize": run_stylize, "apply": run_apply}[args.command](args)
    except CLIPstylerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
