"""Image files <-> (1, 3, H, W) float tensors in [0, 1], for the command line, the benchmark and library users.

Reading handles what cameras and editors write: EXIF rotation (as ComfyUI's Load Image does), 16- and 32-bit
greyscale, palette and alpha images. It can also resize on the way in, either in float with torch (the default,
clipstyler.image.resize) or as the reference does, with PIL on the 8-bit image. Writing is atomic: a cancelled or
failed save never leaves a broken file.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image, ImageOps

from .atomic_write import atomic_write
from .errors import CLIPstylerError
from .image import resize
from .output_paths import check_output_file

# Formats the results can be written in (PIL writes each; others PIL knows are not image formats people expect).
OUTPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
_HIGH_BIT_DEPTH = {"I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0}
# How load_image resizes: "torch" in float (antialiased bicubic), "pil" as the reference (PIL's bicubic on 8 bits).
RESIZE_METHODS = ("torch", "pil")


def _to_array(image: Image.Image) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1], keeping the precision of 16-bit images (PIL's convert('RGB') clips them)."""
    if image.mode in _HIGH_BIT_DEPTH or image.mode == "I":
        values = np.asarray(image, dtype=np.float32)
        # PIL reads 16-bit greyscale PNGs as "I" in some versions: their values stay within 16 bits.
        full_scale = _HIGH_BIT_DEPTH.get(image.mode) or (65535.0 if values.max() <= 65535 else 2.0**32 - 1)
        grey = np.clip(values / full_scale, 0.0, 1.0)
        return np.repeat(grey[..., None], 3, axis=-1)
    if image.mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
        return np.repeat(grey[..., None], 3, axis=-1)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _to_rgb8(image: Image.Image) -> Image.Image:
    """8-bit RGB as convert('RGB') makes it, except for 16/32-bit and float greyscale, which that would clip: their
    levels are rounded to 8 bits instead."""
    if image.mode in _HIGH_BIT_DEPTH or image.mode in ("I", "F"):
        return Image.fromarray(np.round(_to_array(image) * 255.0).astype(np.uint8))
    return image.convert("RGB")


def _pil_resized(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The reference's load_image2: PIL's bicubic resize of the 8-bit image to size (H, W), so the result is
    rounded to 8 bits, then / 255 as ToTensor does: (H, W, 3) float32."""
    resized = _to_rgb8(image).resize((size[1], size[0]), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype=np.float32) / 255.0


def _read(path: str, convert: Callable[[Image.Image], np.ndarray]) -> np.ndarray:
    """convert(the EXIF-rotated image at path), with one-line errors for missing and unreadable files."""
    if not os.path.isfile(path):
        raise CLIPstylerError(f"image {path!r}: no such file")
    try:
        with Image.open(path) as image:
            return convert(ImageOps.exif_transpose(image))
    except (OSError, ValueError, SyntaxError) as error:  # PIL raises all three for unreadable files
        raise CLIPstylerError(f"could not read image {path!r}: {error}") from error


def load_image(path: str, resize_to: tuple[int, int] | None = None, method: str = "torch") -> torch.Tensor:
    """An image file as (1, 3, H, W) RGB in [0, 1]: EXIF rotation applied, alpha dropped, greyscale expanded.

    resize_to: (H, W) to resize to, or None for the file's own size. method: "torch" decodes to float at full size
    and resizes with clipstyler.image.resize (antialiased bicubic in float); "pil" resizes the 8-bit RGB image with
    PIL's bicubic, as the reference's loader does, so the result is rounded to 8 bits.
    """
    if method not in RESIZE_METHODS:
        raise CLIPstylerError(f"resize method must be one of {', '.join(RESIZE_METHODS)}, got {method!r}")
    if resize_to is not None and method == "pil":
        return _to_tensor(_read(path, lambda image: _pil_resized(image, resize_to)))
    image = _to_tensor(_read(path, _to_array))
    return image if resize_to is None else resize(image, resize_to)


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    """(H, W, 3) -> (1, 3, H, W), contiguous."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None].contiguous()


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) in [0, 1] -> an 8-bit RGB PIL image."""
    if image.dim() == 4:
        image = image[0]
    array = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
    return Image.fromarray(array)


def check_image_output(path: str) -> None:
    """Raise a CLIPstylerError now, before any long work, if an image cannot be written to path later."""
    check_output_file(path, OUTPUT_EXTENSIONS, "output image")


def save_image(image: torch.Tensor, path: str) -> None:
    """Write (3, H, W) or (1, 3, H, W) in [0, 1] as an 8-bit image; the format follows the extension."""
    check_image_output(path)
    picture = to_pil(image)
    image_format = Image.registered_extensions()[os.path.splitext(path)[1].lower()]
    with atomic_write(path) as temporary:
        picture.save(temporary, format=image_format)
