"""Every knob of the optimisation, with the reference defaults (SPEC.md), and their validation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .errors import CLIPstylerError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
GLOBAL_VIEWS = ("pad", "squash")


@dataclass(frozen=True)
class StyleSettings:
    """Settings of one optimisation run. Defaults are the authors' unless a comment says otherwise."""

    steps: int = 200  # Adam updates; the output has seen all of them (as the reference's saved image does)
    lr: float = 5e-4
    lr_step_size: int = 100
    lr_gamma: float = 0.5
    # The reference calls scheduler.step() before optimizer.step(), so its first decay comes one step early
    # (99 steps at lr, 100 at lr/2, then lr/4). True reproduces that; False is the textbook StepLR.
    reference_lr_schedule: bool = True
    size: int = 512  # long side of the processing size (the reference squashes to 512 x 512)
    crop_size: int = 128
    num_crops: int = 64
    distortion: float = 0.5
    threshold: float = 0.7
    lambda_patch: float = 9000.0
    lambda_dir: float = 500.0
    lambda_content: float = 150.0
    lambda_tv: float = 2e-3
    seed: int = 0  # the reference has none
    global_view: str = "pad"  # "squash" is the reference; "pad" keeps a non-square image's shape for CLIP
    # Crops per CLIP pass; 0 = all at once. Same loss and gradient either way; 16 keeps 512 px / 64 crops under
    # 4 GB (about 2.8 GB on a CPU, against 4.4 GB all at once) at the same speed (bench/RESULTS.md).
    crop_batch: int = 16
    precision: str = "fp32"  # "fp32" is the exact reference; see precision.py for "auto", "bf16", "fp16"
    # Speed options that leave the objective unchanged (measured in bench/RESULTS.md), off by default:
    # torch.compile of CLIP's image encoder (on a 2-core CPU: about a minute before the first step, then steps only
    # 1-4 % faster; off for good where compiling fails, see compilation.py) ...
    torch_compile: bool = False
    # ... and NHWC (channels_last) convolutions for StyleNet and VGG (no faster on the 2-core CPU measured; GPUs
    # with half precision usually prefer it).
    channels_last: bool = False
    images_per_step: int = 1  # shared (fast) mode: images of the batch in each step
    ngf: int = 16

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _at_least(self, "steps", 1)
        _at_least(self, "lr", 0.0, strict=True)
        _at_least(self, "lr_step_size", 1)
        _at_least(self, "lr_gamma", 0.0, strict=True)
        _at_least(self, "size", 8)
        _at_least(self, "crop_size", 8)
        _at_least(self, "num_crops", 1)
        _at_least(self, "crop_batch", 0)
        _at_least(self, "images_per_step", 1)
        _at_least(self, "ngf", 1)
        for name in ("lambda_patch", "lambda_dir", "lambda_content", "lambda_tv"):
            _at_least(self, name, 0.0)
        if not 0.0 <= self.distortion <= 1.0:
            raise CLIPstylerError(f"distortion must be in [0, 1], got {self.distortion}")
        if not 0.0 <= self.threshold <= 2.0:
            raise CLIPstylerError(f"threshold must be in [0, 2] (a 1 - cosine), got {self.threshold}")
        if self.precision not in PRECISIONS:
            raise CLIPstylerError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.global_view not in GLOBAL_VIEWS:
            raise CLIPstylerError(f"global_view must be one of {GLOBAL_VIEWS}, got {self.global_view!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> StyleSettings:
        """Settings from a dict, ignoring keys this version does not know (files from newer versions still load)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _at_least(settings: StyleSettings, name: str, low: float, strict: bool = False) -> None:
    value = getattr(settings, name)
    if value < low or (strict and value == low):
        relation = ">" if strict else ">="
        raise CLIPstylerError(f"{name} must be {relation} {low}, got {value}")
