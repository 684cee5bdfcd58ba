"""CLIPstyler (Kwon & Ye, CVPR 2022) as a plain PyTorch library: text-driven style transfer with a CLIP-supervised
StyleNet. Usable without ComfyUI; the ComfyUI nodes in ../nodes only translate to and from it.

The names below are imported on first use, so `python -m clipstyler --help` answers without loading torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "CLIPstylerError": "errors",
    "SettingError": "errors",
    "WeightsUnavailable": "errors",
    "DEFAULT_SOURCE_TEXT": "text",
    "StyleTarget": "text",
    "encode_style_target": "text",
    "StepReport": "optimize",
    "StyleResult": "optimize",
    "stylize": "optimize",
    "train_stylenet": "optimize",
    "StyleSettings": "settings",
    "StyleNet": "stylenet",
    "build_stylenet": "stylenet",
    "TrainedStyle": "stylenet_file",
    "load_style": "stylenet_file",
    "save_style": "stylenet_file",
    "StylerCLIP": "clip.model",
    "load_clip_file": "clip.loading",
    "load_pretrained_clip": "clip.loading",
    "VGGContent": "vgg",
    "load_vgg19": "vgg",
    "load_vgg19_from_folder": "vgg",
    "apply_stylenet": "apply",
    "load_image": "image_io",
    "FastSettings": "fast_settings",
    "FastStyleNet": "adain",
    "train_fast_stylenet": "fast_train",
    "load_adain_start": "adain_weights",
    "load_fast_stylenet": "adain_weights",
    "load_released_decoder": "stylenet_file",
    "blend_styles": "interpolate",
    "interpolation_frames": "interpolate",
    "save_image": "image_io",
    "LossHistory": "loss_history",
    "draw_loss_curves": "loss_plot",
    "save_loss_plot": "loss_plot",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'clipstyler' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
