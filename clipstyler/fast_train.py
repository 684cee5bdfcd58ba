"""The paper's fast style transfer training (the authors' train_fast.py): fine-tune AdaIN's decoder on random crops of
many images so that one forward pass stylizes any image (docs/METHOD.md, "Fast style transfer").

Each iteration: `batch_size` random crops of the images (each drawn in turn from a shuffled order of the set, as
train_fast.py's infinite sampler does), out = decoder(encoder(crops)), and
    L = l_c * MSE(enc(out), enc(crops)) + l_patch * L_patch + l_dir * L_dir + l_tv * TV(out)
where L_patch scores `num_views` random perspective views of the whole output batch (each view one warp applied to
every crop of the batch, as one call of the authors' RandomPerspective warps the whole batch) against the text
direction with threshold tau, L_dir the whole crops, the source embeddings are the content crops', and TV is taken
over the whole batch at once. Adam on the decoder only, lr / (1 + lr_decay * i).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .adain import FastStyleNet
from .augment import PatchParams, augment_crops, perspective_coefficients, perspective_corners, start_points
from .clip.model import StylerCLIP, global_view
from .device import resolve_device
from .errors import CLIPstylerError, SettingError
from .fast_settings import FastSettings
from .frozen_weights import frozen_weights_in
from .image import as_image_batch, processing_size, resize
from .inference_tensors import usable_in_autograd
from .losses import batch_total_variation_loss, directional_loss, per_patch_directional_loss
from .mask import PatchPositions, training_crop_positions
from .optimize import StepCallback, StepReport
from .precision import autocast, grad_scaler, resolve_precision
from .temporal import TEMPORAL_LOSS, backward_with_temporal, temporal_regulariser, with_temporal
from .text import StyleTarget

LOSS_NAMES = ("total", "patch", "dir", "content", "tv")


def learning_rate(step: int, settings: FastSettings) -> float:
    """train_fast.py's adjust_learning_rate for the 0-based iteration step."""
    return settings.lr / (1.0 + settings.lr_decay * step)


@dataclass(frozen=True)
class FastBatch:
    """One iteration's draw: which images, where each crop is cut, and the shared views.

    index, top, left: (B,) per crop; views: PatchParams of num_views * B views of the whole (crop_size) crops,
    view-major (view k of crop b at k * B + b), one warp per view shared by the B crops.
    """

    index: torch.Tensor
    top: torch.Tensor
    left: torch.Tensor
    views: PatchParams


def shared_views(num_views: int, batch: int, size: int, distortion: float,
                 generator: torch.Generator | None = None) -> PatchParams:
    """num_views random perspective warps of size x size images, each applied to all `batch` images."""
    corners = perspective_corners(num_views, size, distortion, generator).repeat_interleave(batch, dim=0)
    count = num_views * batch
    coeffs = perspective_coefficients(start_points(size).expand(count, 4, 2), corners)
    zeros = torch.zeros(count, dtype=torch.long)
    return PatchParams(torch.arange(batch).repeat(num_views), zeros, zeros, corners, coeffs, size)


class ImageOrder:
    """Image indices drawn in turn from shuffled passes over the set (train_fast.py's InfiniteSamplerWrapper)."""

    def __init__(self, count: int, generator: torch.Generator) -> None:
        self.count, self.generator = count, generator
        self.queue: list[int] = []

    def take(self, n: int) -> torch.Tensor:
        while len(self.queue) < n:
            self.queue += torch.randperm(self.count, generator=self.generator).tolist()
        taken, self.queue = self.queue[:n], self.queue[n:]
        return torch.tensor(taken)


def sample_fast_batch(order: ImageOrder, sizes: Sequence[tuple[int, int]], settings: FastSettings,
                      generator: torch.Generator, positions: PatchPositions | None = None) -> FastBatch:
    """positions: where a mask allows crops in each image (mask.training_crop_positions); None: anywhere."""
    index = order.take(settings.batch_size)
    crop = settings.crop_size
    if positions is not None:
        top, left = positions.draw(index, generator)
    else:
        top = torch.stack([torch.randint(0, sizes[i][0] - crop + 1, (), generator=generator) for i in index.tolist()])
        left = torch.stack([torch.randint(0, sizes[i][1] - crop + 1, (), generator=generator)
                            for i in index.tolist()])
    views = shared_views(settings.num_views, settings.batch_size, crop, settings.distortion, generator)
    return FastBatch(index, top, left, views)


def cut_training_crops(images: Sequence[torch.Tensor], batch: FastBatch, crop_size: int) -> torch.Tensor:
    """The batch's crops: (B, 3, crop, crop), from images of any sizes (each (3, H, W))."""
    return torch.stack([images[i][:, top:top + crop_size, left:left + crop_size]
                        for i, top, left in zip(batch.index.tolist(), batch.top.tolist(), batch.left.tolist())])


class FastObjective:
    """train_fast.py's loss for one batch of output crops against their content crops."""

    def __init__(self, clip: StylerCLIP, target: StyleTarget, settings: FastSettings, precision: str,
                 device: torch.device) -> None:
        self.clip, self.settings, self.precision, self.device = clip, settings, precision, device
        self.direction = usable_in_autograd(target.direction.to(device, torch.float32))

    def _autocast(self):
        return autocast(self.precision, self.device)

    def _embed(self, images: torch.Tensor) -> torch.Tensor:
        """CLIP embeddings of square images, brought to CLIP's size as the authors' clip_normalize does (a bicubic
        resize, the identity at 224)."""
        return self.clip.encode_image(global_view(images, self.clip.image_size, "squash")).float()

    @torch.no_grad()
    def sources(self, content: torch.Tensor) -> torch.Tensor:
        """(B, D) CLIP embeddings of the content crops."""
        with self._autocast():
            return self._embed(content)

    def _image_terms(self, net: FastStyleNet, output: torch.Tensor, content_features: torch.Tensor,
                     sources: torch.Tensor) -> dict:
        with self._autocast():
            features = net.encode(output)
            embeddings = self._embed(output)
        return {
            "content": F.mse_loss(features.float(), content_features.float()),
            "dir": directional_loss(embeddings, sources, self.direction),
            "tv": batch_total_variation_loss(output),
        }

    def _view_losses(self, output: torch.Tensor, views: PatchParams, sources: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            embeddings = self.clip.encode_image(augment_crops(output, views, self.clip.image_size)).float()
        return per_patch_directional_loss(embeddings, sources[views.image_index.to(self.device)], self.direction,
                                          self.settings.threshold)

    def _weighted_image_total(self, terms: dict) -> torch.Tensor:
        s = self.settings
        return s.lambda_content * terms["content"] + s.lambda_dir * terms["dir"] + s.lambda_tv * terms["tv"]

    def terms(self, net: FastStyleNet, output: torch.Tensor, content_features: torch.Tensor, sources: torch.Tensor,
              views: PatchParams) -> dict:
        """Every term and the weighted total, differentiable, all views in one CLIP pass."""
        terms = self._image_terms(net, output, content_features, sources)
        terms["patch"] = self._view_losses(output, views, sources).mean()
        terms["total"] = self.settings.lambda_patch * terms["patch"] + self._weighted_image_total(terms)
        return terms

    def backward(self, net: FastStyleNet, output: torch.Tensor, content_features: torch.Tensor,
                 sources: torch.Tensor, views: PatchParams, scale=lambda loss: loss,
                 temporal: torch.Tensor | None = None) -> dict:
        """Accumulate d(total)/d(decoder) and return the detached terms; views go through CLIP `view_batch` views
        (of the whole batch) at a time, each chunk's graph freed before the next (the same gradient).
        `temporal`: the unweighted temporal term (clipstyler/temporal.py), joining the total with weight
        lambda_temporal and adding a "temporal" entry; None (the paper) changes nothing."""
        batch = output.shape[0]
        chunk = self.settings.view_batch * batch
        if chunk == 0 or chunk >= len(views):
            terms = with_temporal(self.terms(net, output, content_features, sources, views), temporal,
                                  self.settings.lambda_temporal)
            scale(terms["total"]).backward()
            return {name: terms[name].detach() for name in (*LOSS_NAMES, TEMPORAL_LOSS) if name in terms}
        detached = output.detach().requires_grad_(True)
        terms = self._image_terms(net, detached, content_features, sources)
        scale(self._weighted_image_total(terms)).backward()
        patch_sum = torch.zeros((), device=self.device)
        for start in range(0, len(views), chunk):
            losses = self._view_losses(detached, views.select(slice(start, start + chunk)), sources)
            scale(self.settings.lambda_patch * losses.sum() / len(views)).backward()
            patch_sum += losses.detach().sum()
        backward_with_temporal(output, detached.grad, temporal, self.settings.lambda_temporal, scale)
        result = {name: terms[name].detach() for name in ("content", "dir", "tv")}
        result["patch"] = patch_sum / len(views)
        result["total"] = self.settings.lambda_patch * result["patch"] + self._weighted_image_total(result)
        return with_temporal(result, None if temporal is None else temporal.detach(), self.settings.lambda_temporal)


def prepare_training_images(images, settings: FastSettings) -> list[torch.Tensor]:
    """The training set as a list of (3, H, W) CPU tensors in [0, 1]: a (N, 3, H, W) batch or a list of images of
    any sizes, resized to settings.size if set; every side must hold a crop."""
    batch = [images] if isinstance(images, torch.Tensor) else list(images)
    if not batch:
        raise CLIPstylerError("fast training needs at least one image")
    prepared = []
    for number, item in enumerate(batch):
        item = as_image_batch(item, "images" if isinstance(images, torch.Tensor) else f"image {number + 1}")
        if settings.size:
            item = resize(item, processing_size(*item.shape[-2:], settings.size))
        prepared += list(item.detach().cpu())
    small = [tuple(image.shape[-2:]) for image in prepared if min(image.shape[-2:]) < settings.crop_size]
    if small:
        height, width = small[0]
        raise SettingError(f"{len(small)} training image(s) are smaller than {{crop_size}} ({settings.crop_size} px)"
                           f" on a side (the first is {width}x{height} at the working size): lower {{crop_size}}, "
                           "raise {size}, or use larger images", ("crop_size", "size"))
    return prepared


def train_fast_stylenet(
    images,
    clip: StylerCLIP,
    target: StyleTarget,
    start: FastStyleNet,
    settings: FastSettings | None = None,
    device: torch.device | str = "cpu",
    callback: StepCallback | None = None,
    mask: torch.Tensor | None = None,
    feather: int = 0,
) -> tuple[FastStyleNet, dict[str, float]]:
    """Fine-tune a copy of start's decoder on random crops of images; returns (the trained net on the CPU, the
    last iteration's losses). start (AdaIN's weights, adain_weights.load_adain_start) is left as it was.

    images: a (N, 3, H, W) batch in [0, 1] (e.g. video frames) or a list of images of different sizes; they stay
    on the CPU, and only each iteration's crops go to the device.
    mask, feather: (with a batch) train only on crops the mask covers at least half of (clipstyler/mask.py; ComfyUI's
    convention, 1 = stylize); images without such a crop are left out. Fast Style Apply then takes the mask.
    """
    settings = settings or FastSettings()
    device = resolve_device(device)
    training_images = prepare_training_images(images, settings)
    positions = None
    if mask is not None:
        kept, positions = training_crop_positions(images, mask, feather, tuple(training_images[0].shape[-2:]),
                                                  settings.crop_size)
        training_images = [training_images[i] for i in kept]
    precision = resolve_precision(settings.precision, device)
    net = copy.deepcopy(start).to(device).train()
    optimizer = torch.optim.Adam(net.decoder.parameters(), lr=settings.lr)
    scaler = grad_scaler(precision, device)
    objective = FastObjective(clip, target, settings, precision, device)
    temporal = temporal_regulariser(settings)  # None unless lambda_temporal > 0 (video; not the paper's)
    used = settings.temporal_crops or settings.batch_size  # the first crops of each batch (they are random)
    generator = torch.Generator().manual_seed(settings.seed)
    order = ImageOrder(len(training_images), generator)
    sizes = [tuple(image.shape[-2:]) for image in training_images]
    losses: dict[str, torch.Tensor] = {}
    # CLIP's layer weights cast once for the run, not at every pass (clipstyler/frozen_weights.py). Not the
    # encoder's: the net's own forward runs outside autocast.
    with frozen_weights_in(precision, clip.image_tower):
        for step in range(settings.steps):
            batch = sample_fast_batch(order, sizes, settings, generator, positions)
            content = cut_training_crops(training_images, batch, settings.crop_size).to(device, non_blocking=True)
            lr = learning_rate(step, settings)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.no_grad(), autocast(precision, device):
                content_features = net.encode(content).float()
            sources = objective.sources(content)
            optimizer.zero_grad(set_to_none=True)
            output = net(content)
            losses = objective.backward(net, output, content_features, sources, batch.views.to(device), scaler.scale,
                                        None if temporal is None else temporal(net, content[:used], output[:used]))
            scaler.step(optimizer)
            scaler.update()
            if callback is not None:
                callback(StepReport(step + 1, settings.steps, 0, 1, losses, output.detach().float().clamp(0, 1), lr))
    return net.eval().cpu(), {name: float(value) for name, value in losses.items()}
