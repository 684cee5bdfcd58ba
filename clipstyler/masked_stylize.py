"""stylize() with a mask: only a region of each image is stylized (docs/METHOD.md, "Stylizing a region").

The mask is fitted to the input as ComfyUI's composite fits one and feathered at the input's size (clipstyler/mask.py);
training sees it at the processing size (train_stylenet's `mask`); the StyleNet's output, resized back, is composited
over the ORIGINAL input, never over a resized copy, so outside the mask the result is the input bit for bit.
"""

from __future__ import annotations

import logging

import torch

from .apply import apply_stylenet
from .clip.model import StylerCLIP
from .device import resolve_device
from .image import as_image_batch, check_processing_size, resize
from .mask import NO_ALPHA_HINT, composite, empty_masks, patch_positions, prepare_mask, resize_mask, too_small_error
from .optimize import StepCallback, StyleResult, train_stylenet
from .settings import StyleSettings
from .stylenet import build_stylenet
from .text import StyleTarget
from .vgg import VGGContent

log = logging.getLogger(__name__)


def _numbers(indices: list[int]) -> str:
    shown = ", ".join(str(i + 1) for i in indices[:8])
    return shown + (f" and {len(indices) - 8} more" if len(indices) > 8 else "")


def images_to_train(full: torch.Tensor, work: torch.Tensor, crop_size: int, shared: bool) -> list[int]:
    """The images whose region is trained on; logs the ones passed through, raises where a mask is too small.

    full: the fitted masks at the input's size; work: the same at the processing size. An all-zero mask leaves its
    image as it is (a warning). A mask that covers less than half of every patch is an error, except in shared mode
    while another image of the batch can be trained on (that image is left out of training, with a warning).
    """
    batch = full.shape[0]
    empty = set(empty_masks(full))
    if len(empty) == batch:
        log.warning("the mask is zero everywhere, so nothing is stylized: the image%s passed through unchanged and "
                    "no StyleNet is trained (the stylenet output is untrained). %s",
                    "s are" if batch > 1 else " is", NO_ALPHA_HINT)
        return []
    if empty:
        log.warning("the mask of image(s) %s is zero everywhere: passed through unchanged", _numbers(sorted(empty)))
    counts = patch_positions(work, crop_size).count.tolist()
    small = [i for i in range(batch) if i not in empty and counts[i] == 0]
    usable = [i for i in range(batch) if i not in empty and counts[i] > 0]
    if small and (not shared or not usable):
        raise too_small_error(small, crop_size, batch)
    if small:
        log.warning("the mask of image(s) %s covers less than half of every %d px patch: left out of training "
                    "(still stylized by the shared StyleNet inside its mask)", _numbers(small), crop_size)
    return usable


def stylize_region(
    images: torch.Tensor,
    clip: StylerCLIP,
    vgg: VGGContent,
    target: StyleTarget,
    settings: StyleSettings,
    device: torch.device | str,
    shared: bool,
    callback: StepCallback | None,
    mask: torch.Tensor,
    feather: int = 0,
) -> StyleResult:
    """stylize(images, ..., mask=mask, feather=feather): see clipstyler.optimize.stylize."""
    images = as_image_batch(images)
    device = resolve_device(device)
    batch, (height, width) = images.shape[0], images.shape[-2:]
    work_size = check_processing_size(height, width, settings.size, settings.crop_size)
    full = prepare_mask(mask, batch, height, width, feather).cpu()  # checked before any model moves
    work = resize_mask(full, work_size)
    trained = images_to_train(full, work, settings.crop_size, shared)
    originals = images.detach().cpu()
    if not trained:
        return StyleResult(originals.clone(), build_stylenet(settings.ngf, settings.seed).eval(), settings, {})
    clip.to(device)
    vgg.to(device)
    content = resize(images, work_size)
    if shared:
        index = torch.tensor(trained)
        net, losses = train_stylenet(content[index.to(content.device)], clip, vgg, target, settings, device, callback,
                                     mask=work[index])
        stylized = resize(apply_stylenet(net, content, device, precision=settings.precision), (height, width))
        outputs = composite(stylized, originals, full)
    else:
        outputs = originals.clone()
        for i in trained:
            image = content[i:i + 1]
            net, losses = train_stylenet(image, clip, vgg, target, settings, device, callback, i, batch,
                                         mask=work[i:i + 1])
            with torch.no_grad():
                stylized = resize(net.eval()(image.to(device)).float().cpu(), (height, width))
            outputs[i:i + 1] = composite(stylized, originals[i:i + 1], full[i:i + 1])
    return StyleResult(
        images=outputs,
        stylenet=net.eval().cpu(),
        settings=settings,
        losses={name: float(value) for name, value in losses.items()},
    )
