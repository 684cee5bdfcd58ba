"""The VGG-19 the optimise node needs, loaded once per file and device and kept for the next run."""

from __future__ import annotations

import os

import torch

from clipstyler.vgg import VGG19_FILENAME, VGGContent, download_vgg19, load_vgg19

from . import folders
from .comfy import folder_paths

_cache: dict[tuple[str, str], VGGContent] = {}


def vgg_path(filename: str) -> str:
    """The chosen VGG file's path; torchvision's default file is downloaded into models/vgg if it is missing."""
    try:
        return folder_paths.get_full_path_or_raise(folders.VGG, filename)
    except FileNotFoundError:
        if filename != VGG19_FILENAME:
            raise
        return download_vgg19(folders.first_folder(folders.VGG))


def load_vgg(filename: str, device: torch.device) -> VGGContent:
    path = os.path.abspath(vgg_path(filename))
    key = (path, str(device))
    if key not in _cache:
        _cache.clear()  # one VGG at a time: a second would only hold memory
        _cache[key] = load_vgg19(path).to(device)
    return _cache[key]
