"""The pack's model folders in ComfyUI's models directory, and what the loader nodes list."""

from __future__ import annotations

import os

from clipstyler.clip_loading import list_pretrained
from clipstyler.vgg import VGG19_FILENAME

from .comfy import folder_paths

STYLENETS = "clipstyler"  # models/clipstyler: saved StyleNets (.safetensors)
VGG = "vgg"  # models/vgg: torchvision's vgg19-dcbb9e9d.pth, downloaded there on first use
OPEN_CLIP_CACHE = "open_clip"  # models/open_clip: where open_clip pretrained downloads go
CLIP_FOLDERS = ("clip", "clip_vision")  # ComfyUI's CLIP folders, where users may put full CLIP checkpoints
PRETRAINED_PREFIX = "pretrained: "
CHECKPOINT_EXTENSIONS = {".safetensors", ".pt", ".pth", ".bin"}

_OWN_FOLDERS = {
    STYLENETS: {".safetensors"},
    VGG: {".pth", ".safetensors"},
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
    """Checkpoint files in ComfyUI's CLIP folders, then open_clip's pretrained weights (ViT-B-32/openai first)."""
    files = sorted({f for folder in CLIP_FOLDERS for f in _files(folder)
                    if os.path.splitext(f)[1].lower() in CHECKPOINT_EXTENSIONS})
    pretrained = [f"{PRETRAINED_PREFIX}{arch}/{tag}" for arch, tag in list_pretrained()]
    default = f"{PRETRAINED_PREFIX}ViT-B-32/openai"
    pretrained.remove(default)
    return [default, *pretrained, *files]


def clip_file_path(filename: str) -> str:
    for folder in CLIP_FOLDERS:
        try:
            return folder_paths.get_full_path_or_raise(folder, filename)
        except (FileNotFoundError, KeyError):
            continue
    raise FileNotFoundError(f"CLIP file {filename!r} is in none of ComfyUI's folders {CLIP_FOLDERS}")


def vgg_choices() -> list[str]:
    """VGG weight files present, plus torchvision's file name (downloaded on first use when absent)."""
    return sorted(set(_files(VGG)) | {VGG19_FILENAME})


def stylenet_choices() -> list[str]:
    return _files(STYLENETS)
