"""Every knob of the optimisation, with the reference defaults, its help and its valid range.

Each field is declared once, with `setting(...)`: the default, a one-line help, the range or choices. Validation,
the command line's flags and its --help read them from here.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields

from .errors import SettingError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
GLOBAL_VIEWS = ("pad", "squash")
MIN_SIDE = 16  # VGG-19's content layers pool four times and StyleNet three: smaller images cannot be processed

# The temporal term's settings, shared by StyleSettings and FastSettings (measured: bench/RESULTS.md, "Temporal").
TEMPORAL_HELP = ("Video: weight of the temporal term (not the paper's; 0 = off, the paper), which trains the net so "
                 "its stylization moves with the image instead of flickering between frames: one extra pass of "
                 "the net per step, no flow needed. For frames try {recommended}.")
TEMPORAL_MOTION_HELP = ("Video: size in px of the random smooth motion the temporal term warps each training image "
                        "by (global shift up to this, local motion of this std); about the motion between frames.")
TEMPORAL_NOISE_HELP = ("Video: std of the noise the temporal term adds to the warped image (0-1 scale), so grain "
                       "and compression noise do not flicker the style.")


def setting(default, help: str, low=None, high=None, strict_low: bool = False, choices=None, flag: str | None = None,
            advanced: bool = False):
    """A StyleSettings field: `low`/`high` bound the value (inclusive, or exclusive below with strict_low); `flag`
    overrides the command-line flag's name; `advanced` marks one of the paper's knobs, which front ends may keep out
    of the way (ComfyUI: behind Show Advanced)."""
    metadata = {"help": help, "low": low, "high": high, "strict_low": strict_low, "choices": choices, "flag": flag,
                "advanced": advanced}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class StyleSettings:
    """Settings of one optimisation run. Defaults are the authors' unless a help text says otherwise."""

    steps: int = setting(200, "Adam updates per StyleNet (the paper: 200); the output has seen all of them.", low=1)
    lr: float = setting(5e-4, "Adam learning rate (the paper: 5e-4), decayed by lr_gamma every lr_step_size steps.",
                        low=0.0, strict_low=True, advanced=True)
    lr_step_size: int = setting(100, "Steps between learning-rate decays (StepLR step_size; the paper: 100).", low=1,
                                advanced=True)
    lr_gamma: float = setting(0.5, "Factor of each learning-rate decay (StepLR gamma; the paper: 0.5).", low=0.0,
                              strict_low=True, advanced=True)
    # The reference calls scheduler.step() before optimizer.step(), so its first decay comes one step early
    # (99 steps at lr, 100 at lr/2, then lr/4). True reproduces that; False is the textbook StepLR.
    reference_lr_schedule: bool = setting(True, "Decay the learning rate one step early, as the authors' code does "
                                          "(off: the textbook StepLR).", advanced=True)
    size: int = setting(512, "Long side of the working resolution in px (a multiple of 8); the aspect ratio is kept "
                        "and the result is returned at the input's size.", low=MIN_SIDE)
    crop_size: int = setting(128, "Side of the random patches scored by CLIP, in px (the paper: 128). Must fit in "
                             "the image at the working size.", low=8, advanced=True)
    num_crops: int = setting(64, "Random patches per step (the paper: 64).", low=1, flag="--crops", advanced=True)
    distortion: float = setting(0.5, "Strength of each patch's random perspective warp (the paper: 0.5).", low=0.0,
                                high=1.0, advanced=True)
    threshold: float = setting(0.7, "tau: patches whose loss is below it count as zero, so texture is not "
                               "over-applied where it already matches (the paper: 0.7).", low=0.0, high=2.0,
                               advanced=True)
    lambda_patch: float = setting(9000.0, "Weight of the patch CLIP loss (the paper: 9000).", low=0.0, advanced=True)
    lambda_dir: float = setting(500.0, "Weight of the global CLIP loss (the paper: 500).", low=0.0, advanced=True)
    lambda_content: float = setting(150.0, "Weight of the VGG content loss (the paper: 150): higher keeps more of "
                                    "the original.", low=0.0, advanced=True)
    lambda_tv: float = setting(2e-3, "Weight of the total-variation smoothness loss (the paper: 0.002).", low=0.0,
                               advanced=True)
    seed: int = setting(0, "Seeds StyleNet's initial weights and the random patches (the reference has none): on a "
                        "CPU, the same seed, settings and thread count give a bit-identical result.", low=0)
    global_view: str = setting("pad", "How a non-square image is shown to CLIP whole: 'pad' keeps its shape; "
                               "'squash' stretches it to a square, as the paper's code does.", choices=GLOBAL_VIEWS,
                               advanced=True)
    # 16 keeps 512 px / 64 crops under 4 GB (about 2.8 GB on a CPU, against 4.4 GB all at once) at the same speed.
    crop_batch: int = setting(16, "Patches per CLIP pass, 0 = all at once: the same loss up to float rounding; "
                              "lower it if memory runs out.", low=0, advanced=True)
    precision: str = setting("fp32", "fp32 is the exact reference. auto: bf16 or fp16 on GPUs and bf16 on CPUs with "
                             "native bf16 (AMX, AVX512-BF16): faster, slightly different numbers; fp32 elsewhere.",
                             choices=PRECISIONS)
    # Speed options that leave the objective unchanged (measured in bench/RESULTS.md), off by default.
    torch_compile: bool = setting(False, "Compile CLIP's image encoder with torch.compile: the same loss up to float "
                                  "rounding, about a minute of compiling before the first step; on a CPU the steps "
                                  "are then only 1-4 % faster. For long GPU runs; turns itself off, with a warning, "
                                  "where compiling fails.", flag="--compile", advanced=True)
    channels_last: bool = setting(False, "NHWC memory layout for the StyleNet and VGG convolutions: the same loss up "
                                  "to float rounding. Always on for bf16 on a CPU (12 % faster there); in fp32 no "
                                  "faster on the CPUs measured; may help GPUs in bf16/fp16.", advanced=True)
    images_per_step: int = setting(1, "Shared mode: images of the batch in each step.", low=1, advanced=True)
    ngf: int = setting(16, "StyleNet's base channel width (the paper: 16).", low=1, high=256, advanced=True)
    # Our addition for video, not the paper's (clipstyler/temporal.py); 0 leaves every step exactly the paper's.
    lambda_temporal: float = setting(0.0, TEMPORAL_HELP.format(recommended="10000"), low=0.0,
                                     advanced=True)
    temporal_motion: float = setting(4.0, TEMPORAL_MOTION_HELP, low=0.0, high=64.0, advanced=True)
    temporal_noise: float = setting(0.01, TEMPORAL_NOISE_HELP, low=0.0, high=0.5, advanced=True)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        validate_fields(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> StyleSettings:
        """Settings from a dict, ignoring keys this version does not know (files from newer versions still load)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def validate_fields(settings) -> None:
    """Check every field of a settings dataclass declared with `setting(...)` against its type and range; numbers of
    other numeric types (numpy's int64, float32) become the field's int or float."""
    for spec in fields(settings):
        value = _plain_number(spec, getattr(settings, spec.name))
        object.__setattr__(settings, spec.name, value)  # frozen dataclasses too: this is their __post_init__
        _check(spec, value)


def _plain_number(spec, value):
    """value as a Python int or float where the field is one and value is an exact number of another type."""
    kind = type(spec.default)
    if isinstance(value, bool) or type(value) in (int, float) or kind not in (int, float):
        return value
    if kind is int and isinstance(value, numbers.Integral):
        return int(value)
    if kind is float and isinstance(value, numbers.Real):
        return float(value)
    return value


def _check(spec, value) -> None:
    """Raise a SettingError naming the field unless value has the default's type and lies in the declared range."""
    kind, meta = type(spec.default), spec.metadata
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            raise SettingError.about(spec.name, f"must be a finite number, got {value}")
    else:  # int, bool and str must be exactly that type (True is not a step count, 2.5 steps are not steps)
        ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if not ok:
        raise SettingError.about(spec.name, f"must be {_KIND_NAMES[kind]}, got {value!r} ({type(value).__name__})")
    if meta["choices"] is not None and value not in meta["choices"]:
        raise SettingError.about(spec.name, f"must be one of {', '.join(meta['choices'])}; got {value!r}")
    low, high = meta["low"], meta["high"]
    if low is not None and (value < low or (meta["strict_low"] and value == low)):
        raise SettingError.about(spec.name, f"must be {'>' if meta['strict_low'] else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise SettingError.about(spec.name, f"must be <= {high}, got {value}")


_KIND_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}
