"""Train Fast StyleNet (CLIPstyler): the paper's fast mode, AdaIN's decoder fine-tuned on many images for a text."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import fields

import torch

from ..clipstyler.adain import DECODER_FILENAME, ENCODER_FILENAME
from ..clipstyler.fast_settings import FastSettings
from ..clipstyler.fast_train import train_fast_stylenet
from ..clipstyler.image import check_image, to_bchw
from ..clipstyler.memory import training_bytes
from ..clipstyler.stylenet_file import TrainedStyle, weights_digest
from . import folders
from .comfy import io
from .device import LOW_VRAM_CLIP_BATCH, is_low_vram, on_compute_device
from .mask_inputs import check_mask_inputs, mask_inputs
from .models import load_adain_start
from .optimize import _node_id
from .progress import OptimizeProgress
from .setting_inputs import advanced, setting_input
from .types import CATEGORY, ClipType, StyleNetType, TargetType

log = logging.getLogger("clipstyler")

EVERYDAY = ("steps", "batch_size", "seed", "precision")
# Settings added after workflows were saved: optional inputs, so old workflows and API prompts still run (defaults).
LATER_SETTINGS = ("lambda_temporal", "temporal_motion", "temporal_noise")
# Added after the mask inputs: they go after feather, so that widget keeps its place in saved workflows.
AFTER_MASK = ("temporal_crops",)


class TrainFastStyleNet(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        others = [spec.name for spec in fields(FastSettings) if spec.name not in EVERYDAY + AFTER_MASK]
        return io.Schema(
            node_id="CLIPstylerTrainFastStyleNet",
            display_name="Train Fast StyleNet (CLIPstyler)",
            category=CATEGORY,
            description="The paper's fast style transfer: fine-tunes AdaIN's decoder on random 224 px crops of many "
            "images (video frames, a photo set) for the text, so Fast Style Apply then stylizes any image of any "
            "size in one pass. Defaults are the paper's: 200 iterations of 4 crops.",
            inputs=[
                io.Image.Input("image", tooltip="The training images (any number, e.g. every frame of a video); "
                               "each side at least crop_size (224)."),
                ClipType.Input("clip", tooltip="The same CLIP the target was encoded with."),
                TargetType.Input("target", tooltip="From Text Style Target (CLIPstyler)."),
                setting_input("steps", settings_class=FastSettings),
                setting_input("batch_size", settings_class=FastSettings),
                setting_input("seed", settings_class=FastSettings, control_after_generate=True),
                setting_input("precision", settings_class=FastSettings),
                advanced(io.Combo.Input("encoder", options=folders.adain_encoder_choices(), default=ENCODER_FILENAME,
                                        tooltip="AdaIN's encoder in models/adain; the released "
                                        f"{ENCODER_FILENAME} is downloaded there on first use (offline: put it "
                                        "there yourself).")),
                advanced(io.Combo.Input("decoder", options=folders.adain_decoder_choices(), default=DECODER_FILENAME,
                                        tooltip="The decoder to start from, in models/adain; AdaIN's released "
                                        f"{DECODER_FILENAME} (the paper's start) is downloaded there on first use.")),
                advanced(io.Int.Input("preview_every", default=10, min=0, max=1000,
                                      tooltip="Show a live preview, log the losses and update the node's "
                                      "loss curve every N iterations (0: never).")),
                *(setting_input(name, settings_class=FastSettings, optional=name in LATER_SETTINGS)
                  for name in others),
                *mask_inputs("train only on crops it covers at least half of (give Fast Style Apply the mask "
                             "too). An all-zero mask is an error here: nothing to train on."),  # see mask_inputs
                *(setting_input(name, settings_class=FastSettings, optional=True) for name in AFTER_MASK),
            ],
            outputs=[StyleNetType.Output(display_name="stylenet", tooltip="The trained fast StyleNet: apply it with "
                                         "Fast Style Apply, save it with Save StyleNet.")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, image, clip, target, encoder=ENCODER_FILENAME, decoder=DECODER_FILENAME, preview_every=10,
                mask=None, feather=0, **settings) -> io.NodeOutput:
        check_image(image, "image")
        check_mask_inputs(mask, feather)
        fast_settings = _with_low_vram_limits(FastSettings(**settings))
        images = to_bchw(image.detach().cpu().clone())
        start = load_adain_start(encoder, decoder, DECODER_FILENAME)
        progress = OptimizeProgress(fast_settings.steps, 1, preview_every, _node_id(cls))
        crop = fast_settings.crop_size
        views = (fast_settings.view_batch or fast_settings.num_views) * fast_settings.batch_size
        working = training_bytes(crop, crop, fast_settings.batch_size, views) + 4 * _size(start)
        with on_compute_device(clip.model, working_bytes=working) as device:
            # ComfyUI runs nodes under inference_mode; training needs autograd and tensors made outside it.
            with torch.inference_mode(False), torch.enable_grad():
                region = {} if mask is None else {"mask": mask, "feather": feather}
                net, _ = train_fast_stylenet(images.clone(), clip, target, start, fast_settings, device, progress,
                                             **region)
        style = TrainedStyle(net, target.style_text, target.source_text, clip.name, fast_settings.to_dict(),
                             weights_digest(start.decoder))
        return io.NodeOutput(style)


def _size(module: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def _with_low_vram_limits(settings: FastSettings) -> FastSettings:
    """Under ComfyUI's --lowvram/--novram, fewer views per CLIP pass: the same gradient in less memory."""
    views = max(1, LOW_VRAM_CLIP_BATCH * 4 // settings.batch_size)
    if not is_low_vram() or 0 < settings.view_batch <= views:
        return settings
    log.info("CLIPstyler: low VRAM mode, %d views per CLIP pass", views)
    return dataclasses.replace(settings, view_batch=views)

