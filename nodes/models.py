"""The models the nodes load from ComfyUI's folders: CLIP and VGG-19, and what to do when their weights are missing.

Loading happens outside inference mode (ComfyUI runs nodes inside it), so the weights are ordinary tensors that the
optimisation's autograd can use, and on ComfyUI's offload device: nodes move them to the GPU for a job only
(device.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from ..clipstyler.adain import ENCODER_FILENAME, FastStyleNet
from ..clipstyler.adain_weights import download_adain_file, load_fast_stylenet
from ..clipstyler.clip.loading import load_clip_file, load_pretrained_clip
from ..clipstyler.clip.model import StylerCLIP
from ..clipstyler.errors import CLIPstylerError, WeightsUnavailable
from ..clipstyler.vgg import VGG19_FILENAME, VGGContent, download_vgg19, load_vgg19
from . import folders
from .comfy import folder_paths
from .device import offload_device

_vgg_cache: dict[str, VGGContent] = {}  # one VGG, on the offload device, kept for the next run


def explain_missing_weights(error: WeightsUnavailable) -> CLIPstylerError:
    """The library's error with ComfyUI's own folders in it: where to put the file by hand."""
    if error.model == "clip":
        folder = folders.first_folder(folders.CLIP_FOLDERS[0])
        then = "then choose it in Load CLIP (CLIPstyler)'s model list (press R in ComfyUI to refresh the lists)"
    elif error.model == "adain":
        folder = folders.first_folder(folders.ADAIN)
        then = f"keeping the name {error.file_name}"
    else:
        folder = folders.first_folder(folders.VGG)
        then = f"keeping the name {error.file_name}"
    return CLIPstylerError(
        f"could not load or download the {error.what} weights: {error.cause}. Offline? Fetch {error.file_name} on "
        f"a machine with internet access from {error.url}, put it in {folder}, {then}."
    )


@contextlib.contextmanager
def _weights_errors_for_comfyui() -> Iterator[None]:
    try:
        yield
    except WeightsUnavailable as error:
        raise explain_missing_weights(error) from error


def load_clip(choice: str, architecture: str) -> StylerCLIP:
    """A Load CLIP (CLIPstyler) choice: 'pretrained: ARCH/TAG' or a file in ComfyUI's CLIP folders."""
    with torch.inference_mode(False), _weights_errors_for_comfyui():
        if choice.startswith(folders.PRETRAINED_PREFIX):
            name, _, tag = choice.removeprefix(folders.PRETRAINED_PREFIX).partition("/")
            clip = load_pretrained_clip(name, tag, cache_dir=folders.first_folder(folders.OPEN_CLIP_CACHE))
        else:
            clip = load_clip_file(folders.clip_file_path(choice), architecture)
        return clip.to(offload_device())


def _model_file(folder: str, filename: str, released_name: str, download, what: str) -> str:
    """A file's path in one of ComfyUI's model folders; the released file (released_name) is downloaded into the
    folder's first path by download(folder) if it is missing, any other missing file is an error."""
    path = folder_paths.get_full_path(folder, filename)
    if path is not None:
        return path
    if filename != released_name:
        raise CLIPstylerError(f"{what} weights {filename!r} are not in {folders.first_folder(folder)}")
    with _weights_errors_for_comfyui():
        return download(folders.first_folder(folder))


def _vgg_path(filename: str) -> str:
    """The chosen VGG file's path; torchvision's default file is downloaded into models/vgg if it is missing."""
    return _model_file(folders.VGG, filename, VGG19_FILENAME, download_vgg19, "VGG")


def adain_path(filename: str, released_name: str) -> str:
    """A file in models/adain; AdaIN's released files are downloaded there if they are missing."""
    return _model_file(folders.ADAIN, filename, released_name,
                       lambda folder: download_adain_file(filename, folder), "AdaIN")


def adain_encoder_path(filename: str = ENCODER_FILENAME) -> str:
    return adain_path(filename, ENCODER_FILENAME)


def load_adain_start(encoder: str, decoder: str, released_decoder: str) -> FastStyleNet:
    """The fast mode's start (AdaIN's encoder and decoder) from models/adain, on the CPU."""
    return load_fast_stylenet(adain_encoder_path(encoder), adain_path(decoder, released_decoder))


def load_vgg(filename: str) -> VGGContent:
    """VGG-19 from models/vgg, on the offload device; loaded once and kept for the next run."""
    path = os.path.abspath(_vgg_path(filename))
    if path not in _vgg_cache:
        _vgg_cache.clear()  # one VGG at a time: a second would only hold memory
        with torch.inference_mode(False):
            _vgg_cache[path] = load_vgg19(path).to(offload_device())
    return _vgg_cache[path]
