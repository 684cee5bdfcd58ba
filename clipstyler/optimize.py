"""The optimisation loop: train a StyleNet so its output of the content image follows the text target.

Two modes for a batch of images:
- per image (the paper's main mode): a fresh StyleNet for each image, trained on that image alone;
- shared (the fast mode's training): one StyleNet trained across the whole batch, which then stylizes any image
  in one forward pass (e.g. every frame of a video with apply_stylenet).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .apply import apply_stylenet
from .augment import sample_patch_params
from .clip.model import StylerCLIP
from .device import resolve_device
from .errors import SettingError
from .frozen_weights import frozen_weights_in
from .image import as_image_batch, check_processing_size, resize
from .mask import PatchPositions, masked_patch_positions
from .objective import StyleObjective
from .precision import grad_scaler, resolve_precision, stylenet_autocast
from .settings import MIN_SIDE, StyleSettings
from .stylenet import StyleNet, build_stylenet
from .temporal import TemporalRegulariser, temporal_regulariser
from .text import StyleTarget
from .vgg import VGGContent

# Above this many images, shared mode recomputes each step's VGG content features instead of keeping all of them.
CACHE_CONTENT_FEATURES_UP_TO = 8


@dataclass
class StepReport:
    """What the per-step callback receives. Tensors stay on the device: reading them (.item()) forces a sync,
    so a caller should do it only when it shows them (e.g. at preview steps)."""

    step: int  # 1-based, within this run
    steps: int
    run: int  # 0-based run index (the image, in per-image mode)
    runs: int
    losses: dict[str, torch.Tensor]
    image: torch.Tensor  # (B, 3, H, W) the StyleNet output this step's update was computed from, detached
    lr: float


StepCallback = Callable[[StepReport], None]


@dataclass
class StyleResult:
    """images: (B, 3, H, W) stylized at the input's size, on the CPU. stylenet: the last trained net, on the CPU."""

    images: torch.Tensor
    stylenet: StyleNet
    settings: StyleSettings
    losses: dict[str, float]


def learning_rate(step: int, settings: StyleSettings) -> float:
    """LR of the 0-based update `step` under StepLR(step_size, gamma), with the reference's early decay if asked."""
    decays = (step + int(settings.reference_lr_schedule)) // settings.lr_step_size
    return settings.lr * settings.lr_gamma**decays


def _check_content_size(height: int, width: int, settings: StyleSettings) -> None:
    if min(height, width) < max(MIN_SIDE, settings.crop_size):
        raise SettingError(
            f"the content is {width}x{height} px: each side must be at least {{crop_size}} ({settings.crop_size}) "
            f"and {MIN_SIDE} px; resize it (stylize() does that from {{size}})", ("crop_size", "size"))


def train_stylenet(
    content: torch.Tensor,
    clip: StylerCLIP,
    vgg: VGGContent,
    target: StyleTarget,
    settings: StyleSettings,
    device: torch.device | str,
    callback: StepCallback | None = None,
    run: int = 0,
    runs: int = 1,
    mask: torch.Tensor | None = None,
) -> tuple[StyleNet, dict[str, torch.Tensor]]:
    """Train one StyleNet on content (B, 3, H, W) in [0, 1], already at the processing size.

    With B > 1, each step uses settings.images_per_step images of the batch in turn (shared mode).
    mask: (B, 1, H, W) in [0, 1] at the same size, where to stylize (docs/METHOD.md, "Stylizing a region"): patches
    only where it covers at least half of them, the global view and content loss on the output composited over the
    content, and the previews composited. None: the whole image (the paper).
    Returns the trained net (on the device) and the last step's losses.
    """
    device = resolve_device(device)
    _check_content_size(*content.shape[-2:], settings)
    precision = resolve_precision(settings.precision, device)
    content = content.to(device)
    batch = content.shape[0]
    positions = None if mask is None else masked_patch_positions(mask, settings.crop_size)
    # CLIP's and VGG's layer weights cast once for the run, not at every pass (clipstyler/frozen_weights.py)
    with frozen_weights_in(precision, clip.image_tower, vgg):
        objective = StyleObjective(
            clip, vgg, target, content, settings, precision,
            cache_content_features=batch <= CACHE_CONTENT_FEATURES_UP_TO, mask=mask,
        )
        return _optimise(objective, content, positions, callback, run, runs)


def uses_channels_last(settings: StyleSettings, precision: str, device: torch.device) -> bool:
    """NHWC for StyleNet and VGG: where the settings ask for it, and always for bf16 on a CPU.

    oneDNN's bf16 convolutions work in NHWC; a bf16 step at 512 px / 64 crops took 12 % less time in NHWC on a
    2-core AVX512-BF16 CPU (`python -m bench.step_ab channels_last --precision bf16`, bench/RESULTS.md). fp32 and
    GPUs keep the setting's choice: in fp32 it made no difference there, and no GPU was measured.
    """
    return settings.channels_last or (precision == "bf16" and device.type == "cpu")


def stylenet_pass(
    net: StyleNet,
    images: torch.Tensor,
    precision: str,
    temporal: TemporalRegulariser | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One training pass of net on images, as each step runs it: under stylenet_autocast (bf16: StyleNet's
    convolutions too; its weights stay fp32), with the temporal term's own pass where temporal is given.

    Returns net's output as float32 (the losses, the crops and the preview see a float32 image in every precision)
    and the unweighted temporal term, or None.
    """
    with stylenet_autocast(precision, images.device):
        output = net(images)
        temporal_term = None if temporal is None else temporal(net, images, output)
    return output.float(), temporal_term


def _optimise(
    objective: StyleObjective,
    content: torch.Tensor,
    positions: PatchPositions | None,
    callback: StepCallback | None,
    run: int,
    runs: int,
) -> tuple[StyleNet, dict[str, torch.Tensor]]:
    """train_stylenet's steps: a new StyleNet trained on content against objective, with its settings and
    precision."""
    settings, precision = objective.settings, objective.precision
    device, batch = content.device, content.shape[0]
    per_step = min(settings.images_per_step, batch)
    net = build_stylenet(settings.ngf, settings.seed).to(device).train()
    channels_last = uses_channels_last(settings, precision, device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    scaler = grad_scaler(precision, device)
    generator = torch.Generator().manual_seed(settings.seed)
    order = torch.randperm(batch, generator=generator) if batch > 1 else torch.zeros(1, dtype=torch.long)
    temporal = temporal_regulariser(settings)  # None unless lambda_temporal > 0 (video; not the paper's)
    losses: dict[str, torch.Tensor] = {}
    for step in range(settings.steps):
        index = order[(torch.arange(per_step) + step * per_step) % batch]
        params = sample_patch_params(
            settings.num_crops, content.shape[-2:], settings.crop_size, settings.distortion, per_step, generator,
            None if positions is None else positions.select(index),
        ).to(device)
        lr = learning_rate(step, settings)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        images = content[index.to(device, non_blocking=True)]  # no host sync: the CPU index is not reused
        if channels_last:  # StyleNet's output, and so VGG's input, follow the input's memory format
            images = images.contiguous(memory_format=torch.channels_last)
        output, temporal_term = stylenet_pass(net, images, precision, temporal)
        losses = objective.backward(output, params, index, scale=scaler.scale, temporal=temporal_term)
        scaler.step(optimizer)
        scaler.update()
        if callback is not None:
            region = objective.region
            preview = output.detach() if region is None else region.composite(output.detach(), index)
            callback(StepReport(step + 1, settings.steps, run, runs, losses, preview, lr))
    return net, losses


def stylize(
    images: torch.Tensor,
    clip: StylerCLIP,
    vgg: VGGContent,
    target: StyleTarget,
    settings: StyleSettings | None = None,
    device: torch.device | str = "cpu",
    shared: bool = False,
    callback: StepCallback | None = None,
    mask: torch.Tensor | None = None,
    feather: int = 0,
) -> StyleResult:
    """Stylize images (B, 3, H, W) in [0, 1]; the result keeps each input's size.

    shared=False trains one StyleNet per image (the paper); shared=True trains one across the batch and applies it.
    mask: (B, H, W) or (H, W) in [0, 1], 1 = stylize, fitted as ComfyUI's composite fits one, its edge softened
    over `feather` px inside it; outside it the result is the input, bit for bit (clipstyler/masked_stylize.py).
    """
    settings = settings or StyleSettings()
    if mask is not None:
        from .masked_stylize import stylize_region  # it builds on this module

        return stylize_region(images, clip, vgg, target, settings, device, shared, callback, mask, feather)
    images = as_image_batch(images)
    device = resolve_device(device)
    height, width = images.shape[-2:]
    work_size = check_processing_size(height, width, settings.size, settings.crop_size)
    clip.to(device)
    vgg.to(device)
    content = resize(images, work_size)
    if shared:
        net, losses = train_stylenet(content, clip, vgg, target, settings, device, callback)
        stylized = apply_stylenet(net, content, device, precision=settings.precision)
        outputs = [resize(stylized, (height, width))]
    else:
        outputs = []
        for i in range(content.shape[0]):
            image = content[i:i + 1]
            net, losses = train_stylenet(image, clip, vgg, target, settings, device, callback, i, len(content))
            with torch.no_grad():
                outputs.append(resize(net.eval()(image.to(device)).float().cpu(), (height, width)))
    return StyleResult(
        images=torch.cat(outputs).cpu(),
        stylenet=net.eval().cpu(),
        settings=settings,
        losses={name: float(value) for name, value in losses.items()},
    )
