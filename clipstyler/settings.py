"""Every knob of the optimisation, with the reference defaults, its help and its valid range.

Each field is declared once, with `setting(...)`: the default, a one-line help, the range or choices. Validation,
the command line's flags and its --help read them from here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from .errors import SettingError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
GLOBAL_VIEWS = ("pad", "squash")
MIN_SIDE = 16  # VGG-19's content layers pool four times and StyleNet three: smaller images cannot be processed


def setting(default, help: str, low=None, high=None, strict_low: bool = False, choices=None, flag: str | None = None):
    """A StyleSettings field: `low`/`high` bound the value (inclusive, or exclusive below with strict_low)."""
    metadata = {"help": help, "low": low, "high": high, "strict_low": strict_low, "choices": choices, "flag": flag}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class StyleSettings:
    """Settings of one optimisation run. Defaults are the authors' unless a help text says otherwise."""

    steps: int = setting(200, "Adam updates (the paper: 200); the output has seen all of them", low=1)
    lr: float = setting(5e-4, "Adam learning rate", low=0.0, strict_low=True)
    lr_step_size: int = setting(100, "halve the learning rate every this many steps (StepLR step_size)", low=1)
    lr_gamma: float = setting(0.5, "factor of each learning-rate decay (StepLR gamma)", low=0.0, strict_low=True)
    # The reference calls scheduler.step() before optimizer.step(), so its first decay comes one step early
    # (99 steps at lr, 100 at lr/2, then lr/4). True reproduces that; False is the textbook StepLR.
    reference_lr_schedule: bool = setting(True, "first decay one step early, as the authors' code does")
    size: int = setting(512, "long side of the processing size in px (the aspect ratio is kept)", low=MIN_SIDE)
    crop_size: int = setting(128, "side of the random patches CLIP scores, in px", low=8)
    num_crops: int = setting(64, "random patches per step", low=1, flag="--crops")
    distortion: float = setting(0.5, "strength of each patch's random perspective warp", low=0.0, high=1.0)
    threshold: float = setting(0.7, "tau: patch losses below it count as zero", low=0.0, high=2.0)
    lambda_patch: float = setting(9000.0, "weight of the patch CLIP loss", low=0.0)
    lambda_dir: float = setting(500.0, "weight of the global CLIP loss", low=0.0)
    lambda_content: float = setting(150.0, "weight of the VGG content loss (higher keeps more content)", low=0.0)
    lambda_tv: float = setting(2e-3, "weight of the total-variation smoothness loss", low=0.0)
    seed: int = setting(0, "seeds StyleNet's start and the patches (the reference has none)", low=0)
    global_view: str = setting("pad", "how CLIP sees a non-square image whole: pad (keep its shape) or squash "
                               "(the reference)", choices=GLOBAL_VIEWS)
    # 16 keeps 512 px / 64 crops under 4 GB (about 2.8 GB on a CPU, against 4.4 GB all at once) at the same speed.
    crop_batch: int = setting(16, "patches per CLIP pass, 0 = all at once (the same loss up to float rounding; "
                              "lower it to save memory)", low=0)
    precision: str = setting("fp32", "fp32 is the exact reference; auto picks half precision on GPUs",
                             choices=PRECISIONS)
    # Speed options that leave the objective unchanged (measured in bench/RESULTS.md), off by default.
    torch_compile: bool = setting(False, "torch.compile CLIP's image encoder (the same loss up to float rounding; "
                                  "pays on long GPU runs)", flag="--compile")
    channels_last: bool = setting(False, "NHWC convolutions for StyleNet and VGG (the same loss up to float "
                                  "rounding; for GPUs)")
    images_per_step: int = setting(1, "shared mode: images of the batch in each step", low=1)
    ngf: int = setting(16, "StyleNet's base channel width (the paper: 16)", low=1, high=256)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for spec in fields(self):
            _check(spec, getattr(self, spec.name))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> StyleSettings:
        """Settings from a dict, ignoring keys this version does not know (files from newer versions still load)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


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
