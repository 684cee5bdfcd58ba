"""Image files <-> (1, 3, H, W) float tensors in [0, 1], for the CLI and the benchmark."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .errors import CLIPstylerError


def load_image(path: str) -> torch.Tensor:
    """An image file as (1, 3, H, W) RGB in [0, 1] (alpha dropped, greyscale expanded)."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, ValueError) as error:
        raise CLIPstylerError(f"could not read image {path!r}: {error}") from error
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) in [0, 1] -> an 8-bit RGB PIL image."""
    if image.dim() == 4:
        image = image[0]
    array = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
    return Image.fromarray(array)


def save_image(image: torch.Tensor, path: str) -> None:
    to_pil(image).save(path)
