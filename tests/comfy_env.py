"""The real ComfyUI the node tests run against: $COMFYUI_PATH, else the development checkout .comfyui/ComfyUI.

Node tests need ComfyUI itself (its schema API, validation, folder rules, model management): there is no stand-in.
Without one they are skipped, except where CLIPSTYLER_REQUIRE_COMFYUI=1 (CI sets it): there they fail.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest
from tests_support import REPO

PACK_MODULE = "comfyui_clipstyler"  # the pack imported as ComfyUI imports it: a package named by its folder
COMFYUI_PATH = os.environ.get("COMFYUI_PATH") or os.path.join(REPO, ".comfyui", "ComfyUI")
if not os.path.isfile(os.path.join(COMFYUI_PATH, "main.py")):
    COMFYUI_PATH = None
REQUIRED = os.environ.get("CLIPSTYLER_REQUIRE_COMFYUI") == "1"


def require_comfyui() -> str:
    """The ComfyUI checkout, or skip (fail where CI requires it) the calling test or module."""
    if COMFYUI_PATH is None:
        message = "no ComfyUI checkout: set COMFYUI_PATH (README: Development)"
        if REQUIRED:
            pytest.fail(f"CLIPSTYLER_REQUIRE_COMFYUI=1 but {message}", pytrace=False)
        pytest.skip(message, allow_module_level=True)
    return COMFYUI_PATH


def load_pack():
    """Import the pack from its folder under PACK_MODULE, as ComfyUI's loader does (so `nodes` stays ComfyUI's)."""
    if PACK_MODULE in sys.modules:
        return sys.modules[PACK_MODULE]
    os.environ["COMFYUI_PATH"] = require_comfyui()
    spec = importlib.util.spec_from_file_location(PACK_MODULE, os.path.join(REPO, "__init__.py"),
                                                  submodule_search_locations=[REPO])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_MODULE] = module
    spec.loader.exec_module(module)
    return module


def move_model_folders(tmp_path, monkeypatch) -> None:
    """Every ComfyUI model folder moved under tmp_path (for one test), as `--base-directory tmp_path` would place
    them; the caller puts the model files it needs there."""
    import folder_paths  # importable once require_comfyui() has put ComfyUI on the path

    real = folder_paths.models_dir
    moved = {name: ([path.replace(real, str(tmp_path)) for path in paths], extensions)
             for name, (paths, extensions) in folder_paths.folder_names_and_paths.items()}
    monkeypatch.setattr(folder_paths, "folder_names_and_paths", moved)
    monkeypatch.setattr(folder_paths, "models_dir", str(tmp_path))
    monkeypatch.setattr(folder_paths, "filename_list_cache", {})
