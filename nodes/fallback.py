"""A CPU stand-in for the parts of ComfyUI's API the nodes use, so they import and run without ComfyUI.

Only what the nodes need, with ComfyUI's names and call shapes: the schema API (`io`), model management (CPU),
a progress bar that records its updates, and a folder registry rooted at $CLIPSTYLER_MODELS_DIR.
"""

from __future__ import annotations

import os
import types
from dataclasses import dataclass, field
from typing import Any

import torch

# --- io: the schema API --------------------------------------------------------------------------------------------


class _Input:
    def __init__(self, id: str, **options: Any) -> None:
        self.id = id
        self.options = options
        self.tooltip = options.get("tooltip")
        self.default = options.get("default")


class _Output:
    def __init__(self, id: str | None = None, display_name: str | None = None, tooltip: str | None = None, **_) -> None:
        self.id, self.display_name, self.tooltip = id, display_name, tooltip


def _comfy_type(io_type: str) -> type:
    return type(io_type, (), {"io_type": io_type, "Input": _Input, "Output": _Output})


@dataclass
class _Schema:
    node_id: str
    display_name: str | None = None
    category: str = "sd"
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    hidden: list = field(default_factory=list)
    description: str = ""
    is_output_node: bool = False
    not_idempotent: bool = False


class _NodeOutput:
    def __init__(self, *args: Any, ui: Any = None, **_) -> None:
        self.args, self.ui = args, ui

    @property
    def result(self) -> tuple:
        return self.args


class _ComfyNode:
    """Like ComfyUI's io.ComfyNode: classmethods only, no instance state."""

    @classmethod
    def define_schema(cls) -> _Schema:
        raise NotImplementedError

    @classmethod
    def execute(cls, **kwargs: Any) -> _NodeOutput:
        raise NotImplementedError


class ComfyExtension:
    async def get_node_list(self) -> list[type]:
        return []


io = types.SimpleNamespace(
    ComfyNode=_ComfyNode,
    Schema=_Schema,
    NodeOutput=_NodeOutput,
    Custom=_comfy_type,
    Image=_comfy_type("IMAGE"),
    Int=_comfy_type("INT"),
    Float=_comfy_type("FLOAT"),
    String=_comfy_type("STRING"),
    Boolean=_comfy_type("BOOLEAN"),
    Combo=_comfy_type("COMBO"),
    Hidden=types.SimpleNamespace(unique_id="UNIQUE_ID"),
)

# --- model management ----------------------------------------------------------------------------------------------


class InterruptProcessingException(Exception):
    pass


_interrupt = {"flag": False}


def _interrupt_current_processing(value: bool = True) -> None:
    _interrupt["flag"] = value


def _throw_exception_if_processing_interrupted() -> None:
    if _interrupt["flag"]:
        _interrupt["flag"] = False
        raise InterruptProcessingException()


model_management = types.SimpleNamespace(
    get_torch_device=lambda: torch.device("cpu"),
    intermediate_device=lambda: torch.device("cpu"),
    soft_empty_cache=lambda *a, **k: None,
    free_memory=lambda *a, **k: None,
    interrupt_current_processing=_interrupt_current_processing,
    throw_exception_if_processing_interrupted=_throw_exception_if_processing_interrupted,
    InterruptProcessingException=InterruptProcessingException,
    OOM_EXCEPTION=torch.OutOfMemoryError,
)

# --- progress ------------------------------------------------------------------------------------------------------


class ProgressBar:
    """Records (value, total, preview) of every update, which tests read."""

    def __init__(self, total: int, node_id: str | None = None) -> None:
        self.total, self.current, self.updates = total, 0, []

    def update_absolute(self, value: int, total: int | None = None, preview: Any = None) -> None:
        self.total = total if total is not None else self.total
        self.current = min(value, self.total)
        self.updates.append((self.current, self.total, preview))

    def update(self, value: int) -> None:
        self.update_absolute(self.current + value)


# --- folders -------------------------------------------------------------------------------------------------------


def _models_dir() -> str:
    default = os.path.join(os.path.expanduser("~"), ".cache", "clipstyler", "models")
    return os.environ.get("CLIPSTYLER_MODELS_DIR", default)


def _folder(name: str) -> tuple[list[str], set[str]]:
    """A registered folder; unknown names default to models_dir/name, as ComfyUI's standard folders do."""
    registry = folder_paths.folder_names_and_paths
    return registry.setdefault(name, ([os.path.join(folder_paths.models_dir, name)], set()))


def _add_model_folder_path(name: str, path: str, is_default: bool = False) -> None:
    paths = _folder(name)[0]
    if path not in paths:
        paths.insert(0, path) if is_default else paths.append(path)


def _get_folder_paths(name: str) -> list[str]:
    return list(_folder(name)[0])


def _get_filename_list(name: str) -> list[str]:
    paths, extensions = _folder(name)
    found = set()
    for base in paths:
        for root, _, files in os.walk(base):
            for file in files:
                if not extensions or os.path.splitext(file)[1].lower() in extensions:
                    found.add(os.path.relpath(os.path.join(root, file), base).replace(os.sep, "/"))
    return sorted(found)


def _get_full_path_or_raise(name: str, filename: str) -> str:
    for base in _folder(name)[0]:
        path = os.path.join(base, filename)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"Model in folder '{name}' with filename '{filename}' not found.")


def _get_save_image_path(prefix: str, output_dir: str, *_) -> tuple[str, str, int, str, str]:
    """(folder, name, next counter, subfolder, prefix) with ComfyUI's rule: a file counts only as name_NNNNN_..."""
    subfolder, name = os.path.split(prefix)
    folder = os.path.join(output_dir, subfolder)
    os.makedirs(folder, exist_ok=True)

    def counter(file: str) -> int:
        try:
            return int(file[len(name) + 1:].split("_")[0])
        except ValueError:
            return 0

    counters = [counter(file) for file in os.listdir(folder) if file.startswith(name + "_")]
    return folder, name, max(counters, default=0) + 1, subfolder, prefix


folder_paths = types.SimpleNamespace(
    folder_names_and_paths={},
    models_dir=_models_dir(),
    add_model_folder_path=_add_model_folder_path,
    get_folder_paths=_get_folder_paths,
    get_filename_list=_get_filename_list,
    get_full_path_or_raise=_get_full_path_or_raise,
    get_save_image_path=_get_save_image_path,
    supported_pt_extensions={".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"},
)
