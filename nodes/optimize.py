"""StyleNet Optimize (CLIPstyler): train a StyleNet on the image(s) for the text target; the paper's main mode."""

from __future__ import annotations

import dataclasses
import logging

import torch

from ..clipstyler import postprocess
from ..clipstyler.errors import CLIPstylerError
from ..clipstyler.image import check_image, check_processing_size, to_bchw, to_bhwc
from ..clipstyler.mask import composite, prepare_mask
from ..clipstyler.memory import training_bytes
from ..clipstyler.optimize import stylize
from ..clipstyler.settings import StyleSettings
from ..clipstyler.stylenet_file import TrainedStyle
from ..clipstyler.vgg import VGG19_FILENAME
from . import folders
from .comfy import io, model_management
from .device import LOW_VRAM_CLIP_BATCH, is_low_vram, on_compute_device
from .mask_inputs import check_mask_inputs, mask_inputs
from .models import load_vgg
from .progress import OptimizeProgress
from .setting_inputs import advanced, setting_input, widget_range
from .types import CATEGORY, ClipType, StyleNetType, TargetType

log = logging.getLogger("clipstyler")

PER_IMAGE, SHARED = "per image", "shared (fast)"
MODES = (PER_IMAGE, SHARED)
# Settings added after workflows were saved: optional inputs at the end, so old workflows and API prompts still
# load and run with the defaults.
LATER_SETTINGS = ("distortion", "lr_step_size", "lr_gamma", "reference_lr_schedule", "images_per_step", "ngf",
                  "lambda_temporal", "temporal_motion", "temporal_noise")


class StyleNetOptimize(io.ComfyNode):
    @classmethod
    def define_schema(cls):
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
                # The order of the workflows saved before: widget values are stored by position.
                *(setting_input(name) for name in ("steps", "lr", "size", "crop_size", "num_crops", "threshold",
                                                   "lambda_patch", "lambda_dir", "lambda_content", "lambda_tv")),
                setting_input("seed", control_after_generate=True),
                setting_input("precision"),
                setting_input("crop_batch"),
                setting_input("global_view"),
                advanced(io.Combo.Input("vgg", options=folders.vgg_choices(), default=VGG19_FILENAME,
                                        tooltip="VGG-19 weights in models/vgg for the content loss; torchvision's "
                                        f"{VGG19_FILENAME} is downloaded there on first use (offline: put that file "
                                        "there yourself).")),
                advanced(io.Boolean.Input("paper_display", default=False,
                                          tooltip="Apply the paper's figure look to the output: contrast 1.5 and a "
                                          "min-max stretch.")),
                advanced(io.Int.Input("preview_every", default=10, min=0, max=1000,
                                      tooltip="Show a live preview, log the losses and update the node's "
                                      "loss curve every N steps (0: never).")),
                setting_input("torch_compile"),
                setting_input("channels_last"),
                *(setting_input(name, optional=True) for name in LATER_SETTINGS),
                *mask_inputs("where to stylize; patches are drawn inside it and the result is composited over "
                             "the input."),  # last: feather is the last widget (nodes/mask_inputs.py)
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
        for name, value in (("size", size), ("crop_size", crop_size)):
            low, high = widget_range(name)
            if value is not None and not low <= value <= high:
                return f"{name} must be between {low} and {high}, got {value}"
        if size is not None and crop_size is not None and crop_size > size:
            return (f"crop_size ({crop_size}) is larger than size ({size}): the patches must fit in the image; "
                    f"lower crop_size or raise size")
        return True

    @classmethod
    def execute(cls, image, clip, target, mode=PER_IMAGE, vgg=VGG19_FILENAME, paper_display=False,
                preview_every=10, mask=None, feather=0, **settings) -> io.NodeOutput:
        check_image(image, "image")
        check_mask_inputs(mask, feather)
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
                region = None if mask is None else mask.detach().clone()
                result = stylize(content, clip, vgg_model, target, style_settings, device, shared, progress,
                                 mask=region, feather=feather)
        images = postprocess.paper_display(result.images) if paper_display else result.images
        if paper_display and mask is not None:  # the look applies inside the mask only, as the style does
            images = composite(images, content.cpu(), prepare_mask(mask, *image.shape[:3], feather).cpu())
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
