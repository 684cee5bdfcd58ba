"""Node inputs built from StyleSettings' (and the fast mode's FastSettings') fields, so each setting's default, range,
help and place (everyday or advanced) is declared once, in clipstyler/settings.py and clipstyler/fast_settings.py.
Only what a widget needs beyond that lives here: the top of a slider for settings the library leaves unbounded, and
the widget's step."""

from __future__ import annotations

from dataclasses import fields

from ..clipstyler.fast_settings import FastSettings
from ..clipstyler.settings import StyleSettings
from .comfy import io

_FIELDS = {cls: {spec.name: spec for spec in fields(cls)} for cls in (StyleSettings, FastSettings)}
# name: (the widget's maximum where the library sets none, the widget's step)
_WIDGETS = {
    "steps": (10000, 1),
    "lr": (1.0, 1e-5),
    "lr_step_size": (10000, 1),
    "lr_gamma": (1.0, 0.05),
    "size": (4096, 8),
    "crop_size": (1024, 8),
    "num_crops": (512, 1),
    "distortion": (None, 0.05),
    "threshold": (None, 0.01),
    "lambda_patch": (1e6, 10.0),
    "lambda_dir": (1e6, 10.0),
    "lambda_content": (1e6, 1.0),
    "lambda_tv": (10.0, 1e-4),
    "seed": (2**63 - 1, 1),
    "crop_batch": (512, 1),
    "images_per_step": (64, 1),
    "ngf": (None, 1),
    "lambda_temporal": (1e6, 1.0),
    "temporal_motion": (None, 0.5),
    "temporal_noise": (None, 0.001),
    "temporal_crops": (64, 1),
    # FastSettings' own
    "lr_decay": (1.0, 1e-5),
    "batch_size": (64, 1),
    "num_views": (256, 1),
    "view_batch": (256, 1),
}


# Where a node's default differs from the library's. precision: the library keeps the exact fp32 reference; in
# ComfyUI speed matters more, so auto (bf16/fp16 on GPUs, bf16 on CPUs with native bf16, fp32 elsewhere).
NODE_DEFAULTS = {"precision": "auto"}


def advanced(widget):
    """Behind the node's "Show Advanced" menu entry (web/clipstyler.js). Only the display changes: the widget keeps
    its place and value, so saved workflows keep their meaning."""
    widget.extra_dict["advanced"] = True
    return widget


def widget_range(name: str, settings_class=StyleSettings) -> tuple[float, float]:
    """(minimum, maximum) of a setting's widget: the library's bounds, and the slider top where it has none."""
    meta = _FIELDS[settings_class][name].metadata
    low = meta["low"] + _WIDGETS[name][1] if meta["strict_low"] else meta["low"]  # lr > 0: the widget starts a step up
    return low, meta["high"] if meta["high"] is not None else _WIDGETS[name][0]


def setting_input(name: str, optional: bool = False, settings_class=StyleSettings, **extra) -> io.Input:
    """The ComfyUI input of a settings field `name`, with its default, range, help as tooltip, and advanced flag."""
    spec = _FIELDS[settings_class][name]
    meta, default = spec.metadata, NODE_DEFAULTS.get(name, spec.default)
    common = {"default": default, "tooltip": meta["help"], "optional": optional}
    if isinstance(default, bool):
        widget = io.Boolean.Input(name, **common, **extra)
    elif meta["choices"] is not None:
        widget = io.Combo.Input(name, options=list(meta["choices"]), **common, **extra)
    else:
        low, high = widget_range(name, settings_class)
        kind = io.Int if isinstance(default, int) else io.Float
        options = {} if kind is io.Int else {"round": False}
        widget = kind.Input(name, min=low, max=high, step=_WIDGETS[name][1], **common, **options, **extra)
    return advanced(widget) if meta["advanced"] else widget
