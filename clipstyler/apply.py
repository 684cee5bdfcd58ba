"""Fast style apply: one StyleNet forward pass per image, in chunks that fit memory.

Works for every kind of trained net: the per-image U-Net (StyleNet) and the fast mode's AdaIN encoder-decoder
(adain.FastStyleNet), whose unbounded output is clamped to [0, 1] here.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from .device import resolve_device
from .image import as_image_batch, pad_for_stylenet, processing_size, resize
from .mask import NO_ALPHA_HINT, FrameMasks, composite
from .precision import autocast, resolve_precision

log = logging.getLogger(__name__)


# Auto chunking: about this many pixels per forward pass (8 frames at 512 px, 2 at 1024, 1 at 2048); a StyleNet
# pass holds several full-resolution 16-48 channel maps, about 0.8 GB per 1024 px frame in fp32.
AUTO_CHUNK_PIXELS = 8 * 512 * 512


def auto_chunk_size(height: int, width: int) -> int:
    return max(1, AUTO_CHUNK_PIXELS // (height * width))


def _is_out_of_memory(error: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the CPU allocator's plain RuntimeError."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)


def _forward(net: nn.Module, images: torch.Tensor, size: int, precision: str, device: torch.device) -> torch.Tensor:
    height, width = images.shape[-2:]
    x = images.to(device, non_blocking=True).float()
    if size > 0:
        x = resize(x, processing_size(height, width, size))
    # Padded to what StyleNet needs (multiples of 8, at least 16 px), cropped back below.
    x, (pass_h, pass_w) = pad_for_stylenet(x)
    with autocast(precision, device):
        y = net(x).float()[..., :pass_h, :pass_w].clamp(0, 1)
    return resize(y, (height, width))


@torch.no_grad()
def apply_stylenet(
    net: nn.Module,
    images: torch.Tensor,
    device: torch.device | str = "cpu",
    chunk_size: int = 0,
    size: int = 0,
    precision: str = "fp32",
    on_chunk=None,
    mask: torch.Tensor | None = None,
    feather: int = 0,
) -> torch.Tensor:
    """Stylize (B, 3, H, W) images in [0, 1] with a trained StyleNet (either kind); returns (B, 3, H, W) on the CPU.

    Args:
        size: 0 runs at each image's own resolution; otherwise the long side is resized to size for the pass and
            the result back to the input's size. Either way the pass is edge-padded to what StyleNet needs
            (multiples of 8, at least 16 px) and cropped back, so any image size works.
        chunk_size: images per forward pass (0: auto, from the frame size); halved and retried when the device
            runs out of memory.
        on_chunk: called with (done, total) after each chunk (for progress and cancel).
        mask, feather: stylize only where the mask is (clipstyler/mask.py: (B, H, W) or (H, W) in [0, 1], 1 =
            stylize, fitted as ComfyUI's composite fits one, frame i getting mask i % B, its edge softened over
            `feather` px inside it); each frame is composited over itself, so outside the mask it is unchanged. An
            all-zero mask returns the frames as they are, with a warning, without running the net.
    """
    device = resolve_device(device)
    images = as_image_batch(images)
    masks = None if mask is None else FrameMasks(mask, images.shape[0], *images.shape[-2:], feather)
    if masks is not None and masks.all_zero():
        log.warning("the mask is zero everywhere: the frames are passed through unchanged. %s", NO_ALPHA_HINT)
        if on_chunk is not None:
            on_chunk(images.shape[0], images.shape[0])
        return images.detach().cpu().clone()
    precision = resolve_precision(precision, device)
    net = net.to(device).eval()
    pass_hw = processing_size(*images.shape[-2:], size) if size > 0 else images.shape[-2:]
    chunk = chunk_size if chunk_size > 0 else auto_chunk_size(*pass_hw)
    outputs, start = [], 0
    while start < images.shape[0]:
        try:
            stylized = _forward(net, images[start:start + chunk], size, precision, device).cpu()
            if masks is not None:  # over the frames as given, at their own size
                stop = start + stylized.shape[0]
                stylized = composite(stylized, images[start:stop].cpu(), masks.frames(start, stop))
            outputs.append(stylized)
        except RuntimeError as error:  # torch.OutOfMemoryError is one too
            if chunk == 1 or not _is_out_of_memory(error):
                raise
            chunk //= 2
            log.warning("out of memory in StyleNet apply; retrying with %d images per pass", chunk)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        start += chunk
        if on_chunk is not None:
            on_chunk(min(start, images.shape[0]), images.shape[0])
    return torch.cat(outputs)
