"""The pack's model folders in ComfyUI's models directory, and what the loader nodes list."""

from __future__ import annotations

import os

from ..clipstyler.adain import DECODER_FILENAME, ENCODER_FILENAME
from ..clipstyler.clip.loading import list_pretrained
from ..clipstyler.errors import CLIPstylerError
from ..clipstyler.vgg import VGG19_FILENAME
from .comfy import folder_paths

STYLENETS = "clipstyler"  # models/clipstyler: saved styles (.safetensors) and the authors' decoders (.pth.tar)
VGG = "vgg"  # models/vgg: torchvision's vgg19-dcbb9e9d.pth, downloaded there on first use
ADAIN = "adain"  # models/adain: AdaIN's vgg_normalised.pth and decoder.pth (the fast mode), downloaded on first use
OPEN_CLIP_CACHE = "open_clip"  # models/open_clip: where open_clip pretrained downloads go
CLIP_FOLDERS = ("clip", "clip_vision")  # ComfyUI's CLIP folders, where users may put full CLIP checkpoints
PRETRAINED_PREFIX = "pretrained: "
CHECKPOINT_EXTENSIONS = {".safetensors", ".pt", ".pth", ".bin"}
# Shown right after the local files; every other open_clip tag follows them, so saved workflows still validate.
SUGGESTED_PRETRAINED = (
    ("ViT-B-32", "openai"),  # the paper's
    ("ViT-B-16", "openai"),
    ("ViT-L-14", "openai"),
    ("RN50", "openai"),
    ("ViT-B-32", "laion2b_s34b_b79k"),
    ("ViT-B-16", "laion2b_s34b_b88k"),
    ("ViT-L-14", "laion2b_s32b_b82k"),
)
DEFAULT_CLIP = f"{PRETRAINED_PREFIX}ViT-B-32/openai"
NO_STYLENETS = "(no style saved yet: run Save StyleNet)"

_OWN_FOLDERS = {
    STYLENETS: {".safetensors", ".pth", ".tar", ".pt"},  # .tar: ComfyUI matches only the last suffix of .pth.tar
    VGG: {".pth", ".safetensors"},
    ADAIN: {".pth", ".safetensors"},
    OPEN_CLIP_CACHE: set(),
}


def register_folders() -> None:
    """Add the pack's folders to folder_paths unless the user's extra_model_paths.yaml already set them."""
    for name, extensions in _OWN_FOLDERS.items():
        if name not in folder_paths.folder_names_and_paths:
            folder_paths.folder_names_and_paths[name] = ([os.path.join(folder_paths.models_dir, name)], extensions)


def first_folder(name: str) -> str:
    return folder_paths.get_folder_paths(name)[0]


def _files(name: str) -> list[str]:
    try:
        return folder_paths.get_filename_list(name)
    except KeyError:  # a folder name this ComfyUI does not know
        return []


def clip_choices() -> list[str]:
    """Checkpoint files in ComfyUI's CLIP folders first, then suggested open_clip weights (the paper's first), then
    every other open_clip tag."""
    files = sorted({f for folder in CLIP_FOLDERS for f in _files(folder)
                    if os.path.splitext(f)[1].lower() in CHECKPOINT_EXTENSIONS})
    available = list_pretrained()
    suggested = [pair for pair in SUGGESTED_PRETRAINED if pair in set(available)]
    others = [pair for pair in available if pair not in set(suggested)]
    return [*files, *(f"{PRETRAINED_PREFIX}{arch}/{tag}" for arch, tag in suggested + others)]


def clip_file_path(filename: str) -> str:
    for folder in CLIP_FOLDERS:
        try:
            return folder_paths.get_full_path_or_raise(folder, filename)
        except (FileNotFoundError, KeyError):
            continue
    folders = ", ".join(first_folder(folder) for folder in CLIP_FOLDERS)
    raise CLIPstylerError(f"CLIP file {filename!r} is in none of ComfyUI's CLIP folders ({folders}); press R to "
                          "refresh the list")


def vgg_choices() -> list[str]:
    """VGG weight files present, plus torchvision's file name (downloaded on first use when absent)."""
    return sorted(set(_files(VGG)) | {VGG19_FILENAME})


def adain_choices(default: str) -> list[str]:
    """AdaIN weight files present in models/adain, plus the released file name (downloaded on first use)."""
    return sorted(set(_files(ADAIN)) | {default})


def adain_encoder_choices() -> list[str]:
    return adain_choices(ENCODER_FILENAME)


def adain_decoder_choices() -> list[str]:
    return adain_choices(DECODER_FILENAME)


def stylenet_choices() -> list[str]:
    """Saved styles, or one entry saying there are none yet (an empty list shows 'undefined' in the front end)."""
    return _files(STYLENETS) or [NO_STYLENETS]
