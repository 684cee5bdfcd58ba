"""StyleNet Optimize (CLIPstyler): train a StyleNet on the image(s) for the text target; the paper's main mode."""

from __future__ import annotations

import dataclasses
import logging

import torch

from clipstyler import postprocess
from clipstyler.errors import CLIPstylerError
from clipstyler.image import check_image, check_processing_size, to_bchw, to_bhwc
from clipstyler.memory import training_bytes
from clipstyler.optimize import stylize
from clipstyler.settings import PRECISIONS, StyleSettings
from clipstyler.stylenet_file import TrainedStyle
from clipstyler.vgg import VGG19_FILENAME

from . import folders
from .comfy import io, model_management
from .device import LOW_VRAM_CLIP_BATCH, is_low_vram, on_compute_device
from .models import load_vgg
from .progress import OptimizeProgress
from .types import CATEGORY, ClipType, StyleNetType, TargetType

log = logging.getLogger("clipstyler")

PER_IMAGE, SHARED = "per image", "shared (fast)"
MODES = (PER_IMAGE, SHARED)
SIZE_RANGE, CROP_SIZE_RANGE = (64, 4096), (8, 1024)
_DEFAULTS = StyleSettings()


def _int(name: str, default: int, low: int, high: int, tooltip: str, **extra) -> io.Int.Input:
    return io.Int.Input(name, default=default, min=low, max=high, tooltip=tooltip, **extra)


def _float(name: str, default: float, low: float, high: float, step: float, tooltip: str) -> io.Float.Input:
    return io.Float.Input(name, default=default, min=low, max=high, step=step, round=False, tooltip=tooltip)


def _advanced(widget):
    """One of the paper's knobs: hidden until the node's "Show Advanced" menu entry (web/clipstyler.js). Only the
    display changes: the widget keeps its place and value, so saved workflows keep their meaning."""
    widget.extra_dict["advanced"] = True
    return widget


class StyleNetOptimize(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        d = _DEFAULTS
        return io.Schema(
            node_id="CLIPstylerStyleNetOptimize",
            display_name="StyleNet Optimize (CLIPstyler)",
            category=CATEGORY,
            description="Trains a small U-Net so the image takes on the text's style while keeping its content "
            "(CLIPstyler, Kwon & Ye 2022). Defaults are the paper's: about 200 Adam steps at 512 px. The paper's "
            "other settings are one right-click away: Show Advanced.",
            inputs=[
                io.Image.Input("image", tooltip="The content image(s)."),
                ClipType.Input("clip", tooltip="The same CLIP the target was encoded with."),
                TargetType.Input("target", tooltip="From Text Style Target (CLIPstyler)."),
                io.Combo.Input("mode", options=list(MODES), default=PER_IMAGE,
                               tooltip="For a batch: 'per image' trains a fresh StyleNet on each image (the paper); "
                               "'shared (fast)' trains one StyleNet across the batch, to reuse with Fast Style "
                               "Apply on any image or video frame."),
                _int("steps", d.steps, 1, 10000, "Adam updates per StyleNet (the paper: 200)."),
                _advanced(_float("lr", d.lr, 1e-6, 1.0, 1e-5, "Adam learning rate; halved every 100 steps.")),
                _int("size", d.size, *SIZE_RANGE, "Long side of the working resolution (multiple of 8); the "
                     "aspect ratio is kept and the result is returned at the input's size.", step=8),
                _advanced(_int("crop_size", d.crop_size, *CROP_SIZE_RANGE, "Side of the random patches scored by "
                               "CLIP (the paper: 128). Must fit in the image at the working size.")),
                _advanced(_int("num_crops", d.num_crops, 1, 512, "Patches per step (the paper: 64).")),
                _advanced(_float("threshold", d.threshold, 0.0, 2.0, 0.01, "tau: patches whose loss is below it "
                                 "are ignored, so texture is not over-applied where it already matches (the "
                                 "paper: 0.7).")),
                _advanced(_float("lambda_patch", d.lambda_patch, 0.0, 1e6, 10.0, "Weight of the patch CLIP loss "
                                 "(9000).")),
                _advanced(_float("lambda_dir", d.lambda_dir, 0.0, 1e6, 10.0, "Weight of the global CLIP loss "
                                 "(500).")),
                _advanced(_float("lambda_content", d.lambda_content, 0.0, 1e6, 1.0, "Weight of the VGG content "
                                 "loss (150): higher keeps more of the original.")),
                _advanced(_float("lambda_tv", d.lambda_tv, 0.0, 10.0, 1e-4, "Weight of the total-variation "
                                 "smoothness loss (0.002).")),
                _int("seed", d.seed, 0, 2**63 - 1, "Seeds StyleNet's initial weights and the random patches: on a "
                     "CPU, the same seed, settings and thread count give a bit-identical result.",
                     control_after_generate=True),
                io.Combo.Input("precision", options=list(PRECISIONS), default=d.precision,
                               tooltip="fp32 is the exact reference. auto: bf16 or fp16 on GPUs (faster, "
                               "slightly different numbers), fp32 on CPUs."),
                _advanced(_int("crop_batch", d.crop_batch, 0, 512, "Patches per CLIP pass; lower it if memory "
                               "runs out (the same loss, up to float rounding). 0: all at once. --lowvram caps it at "
                               f"{LOW_VRAM_CLIP_BATCH}.")),
                _advanced(io.Combo.Input("global_view", options=["pad", "squash"], default=d.global_view,
                                         tooltip="How a non-square image is shown to CLIP whole: 'pad' keeps its "
                                         "shape; 'squash' stretches it to a square as the paper's code does.")),
                _advanced(io.Combo.Input("vgg", options=folders.vgg_choices(), default=VGG19_FILENAME,
                                         tooltip="VGG-19 weights in models/vgg for the content loss; "
                                         f"torchvision's {VGG19_FILENAME} is downloaded there on first use "
                                         "(offline: put that file there yourself).")),
                _advanced(io.Boolean.Input("paper_display", default=False,
                                           tooltip="Apply the paper's figure look to the output: contrast 1.5 "
                                           "and a min-max stretch.")),
                _advanced(_int("preview_every", 10, 0, 1000, "Show a live preview and log the losses every N "
                               "steps (0: never).")),
                _advanced(io.Boolean.Input("torch_compile", default=d.torch_compile,
                                           tooltip="Compile CLIP's image encoder with torch.compile: the same "
                                           "loss up to float rounding, about a minute of compiling before the "
                                           "first step; on a CPU the steps are then only 1-4 % faster. For "
                                           "long runs on GPUs. Turns itself off, with a warning, where "
                                           "compiling fails.")),
                _advanced(io.Boolean.Input("channels_last", default=d.channels_last,
                                           tooltip="NHWC memory layout for the StyleNet and VGG convolutions: "
                                           "the same loss up to float rounding. No faster on the CPU measured; "
                                           "may help on GPUs in bf16/fp16.")),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="The stylized image(s), at the input's size."),
                StyleNetType.Output(display_name="stylenet", tooltip="The trained StyleNet (the last one in per "
                                    "image mode); save it, or apply it to other images."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, size: int | None = None, crop_size: int | None = None) -> bool | str:
        # Declaring size and crop_size makes ComfyUI skip its own range checks for them: done here instead.
        # Values of linked inputs are not known yet (None); the image's shape is checked when the node runs.
        for name, value, (low, high) in (("size", size, SIZE_RANGE), ("crop_size", crop_size, CROP_SIZE_RANGE)):
            if value is not None and not low <= value <= high:
                return f"{name} must be between {low} and {high}, got {value}"
        if size is not None and crop_size is not None and crop_size > size:
            return (f"crop_size ({crop_size}) is larger than size ({size}): the patches must fit in the image; "
                    f"lower crop_size or raise size")
        return True

    @classmethod
    def execute(cls, image, clip, target, mode=PER_IMAGE, vgg=VGG19_FILENAME, paper_display=False,
                preview_every=10, **settings) -> io.NodeOutput:
        check_image(image, "image")
        if mode not in MODES:
            raise CLIPstylerError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        style_settings = _with_low_vram_limits(StyleSettings(**settings))
        work_h, work_w = check_processing_size(image.shape[1], image.shape[2], style_settings.size,
                                               style_settings.crop_size)  # before any model loads
        vgg_model = load_vgg(vgg)
        shared = mode == SHARED
        runs = 1 if shared else image.shape[0]
        progress = OptimizeProgress(style_settings.steps, runs, preview_every, _node_id(cls))
        per_step = style_settings.images_per_step if shared else 1
        clip_views = (style_settings.crop_batch or style_settings.num_crops) + per_step
        working = training_bytes(work_h, work_w, per_step, clip_views)
        with on_compute_device(clip.model, vgg_model, working_bytes=working) as device:
            # ComfyUI runs nodes under inference_mode; training needs autograd and tensors made outside it.
            with torch.inference_mode(False), torch.enable_grad():
                content = to_bchw(image.detach().clone())
                result = stylize(content, clip, vgg_model, target, style_settings, device, shared, progress)
        images = postprocess.paper_display(result.images) if paper_display else result.images
        style = TrainedStyle(result.stylenet, target.style_text, target.source_text, clip.name,
                             style_settings.to_dict())
        return io.NodeOutput(to_bhwc(images).to(model_management.intermediate_device()), style)


def _with_low_vram_limits(settings: StyleSettings) -> StyleSettings:
    """Under ComfyUI's --lowvram/--novram, fewer patches per CLIP pass: the same gradient in less memory."""
    if not is_low_vram() or 0 < settings.crop_batch <= LOW_VRAM_CLIP_BATCH:
        return settings
    log.info("CLIPstyler: low VRAM mode, patches go through CLIP %d at a time", LOW_VRAM_CLIP_BATCH)
    return dataclasses.replace(settings, crop_batch=LOW_VRAM_CLIP_BATCH)


def _node_id(cls) -> str | None:
    hidden = getattr(cls, "hidden", None)
    return getattr(hidden, "unique_id", None) if hidden is not None else None
