"""Settings of the paper's fast style transfer training (train_fast.py's defaults), declared like StyleSettings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .settings import PRECISIONS, TEMPORAL_HELP, TEMPORAL_MOTION_HELP, TEMPORAL_NOISE_HELP, setting, validate_fields


@dataclass(frozen=True)
class FastSettings:
    """One fast training run: AdaIN's decoder fine-tuned on random crops of many images. Defaults are the authors'."""

    steps: int = setting(200, "Training iterations (the paper: 200), each on a batch of random crops.", low=1)
    lr: float = setting(1e-4, "Adam learning rate (the paper: 1e-4), decayed as lr / (1 + lr_decay * iteration).",
                        low=0.0, strict_low=True, advanced=True)
    lr_decay: float = setting(5e-5, "Learning-rate decay per iteration (the paper: 5e-5).", low=0.0, advanced=True)
    batch_size: int = setting(4, "Crops per iteration, each from an image of the set drawn in turn (the paper: 4).",
                              low=1, flag="--batch")
    crop_size: int = setting(224, "Side of the random training crops in px (the paper: 224, CLIP's own size).",
                             low=16, advanced=True)
    size: int = setting(0, "Long side the images are resized to before cropping, in px (0: as they are, the "
                        "paper's high-resolution images). Every side must be at least crop_size.", low=0,
                        advanced=True)
    num_views: int = setting(16, "Random perspective views of each output crop scored by CLIP (the paper: 16).",
                             low=1, flag="--views", advanced=True)
    distortion: float = setting(0.5, "Strength of each view's random perspective warp (the paper: 0.5).", low=0.0,
                                high=1.0, advanced=True)
    threshold: float = setting(0.7, "tau: views whose loss is below it count as zero (the paper: 0.7).", low=0.0,
                               high=2.0, advanced=True)
    lambda_patch: float = setting(10.0, "Weight of the patch CLIP loss (the paper: 10).", low=0.0, advanced=True)
    lambda_dir: float = setting(1.0, "Weight of the global CLIP loss (the paper: 1).", low=0.0, advanced=True)
    lambda_content: float = setting(1.0, "Weight of the content loss, MSE of the relu4_1 features (the paper: 1).",
                                    low=0.0, advanced=True)
    lambda_tv: float = setting(1e-4, "Weight of the total-variation loss (the paper: 1e-4).", low=0.0, advanced=True)
    seed: int = setting(0, "Seeds the order of the images, the crops and the views (the reference has none).",
                        low=0)
    # 4 views of a batch of 4 = 16 CLIP images per pass: the same gradient as one pass, in less memory.
    view_batch: int = setting(4, "Views per CLIP pass, 0 = all at once: the same loss up to float rounding; lower "
                              "it if memory runs out.", low=0, advanced=True)
    precision: str = setting("fp32", "fp32 is the exact reference. auto: bf16 or fp16 on GPUs, bf16 on CPUs with "
                             "native bf16 (AMX, AVX512-BF16), fp32 elsewhere.", choices=PRECISIONS)
    # Our addition for video, not the paper's (clipstyler/temporal.py); 0 leaves every step exactly the paper's.
    lambda_temporal: float = setting(0.0, TEMPORAL_HELP.format(recommended="600"), low=0.0, advanced=True)
    temporal_motion: float = setting(4.0, TEMPORAL_MOTION_HELP, low=0.0, high=64.0, advanced=True)
    temporal_noise: float = setting(0.01, TEMPORAL_NOISE_HELP, low=0.0, high=0.5, advanced=True)
    # The term is a mean over training images, so a subset of each batch estimates the same term; one crop keeps
    # its extra encoder-decoder pass to a quarter of the paper's batch of 4 (bench/RESULTS.md, "Temporal").
    temporal_crops: int = setting(1, "Video: how many of each iteration's crops the temporal term warps and "
                                  "stylizes again (0 = all). The term is a mean over images, so one crop estimates "
                                  "the same term at a fraction of the extra pass's cost.", low=0, advanced=True)

    def __post_init__(self) -> None:
        validate_fields(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FastSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
