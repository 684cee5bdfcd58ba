"""ComfyUI's API for the nodes, or a small CPU stand-in when ComfyUI is absent (tests, scripting).

Inside ComfyUI this module re-exports the real `io`, `model_management`, `ProgressBar` and `folder_paths`.
Outside it, `fallback` provides just enough of each for the nodes to import and run on the CPU.
"""

from __future__ import annotations

try:
    import comfy.model_management as model_management
    import folder_paths
    from comfy.utils import ProgressBar
    from comfy_api.latest import ComfyExtension, io

    IN_COMFYUI = True
except ImportError:
    from .fallback import ComfyExtension, ProgressBar, folder_paths, io, model_management

    IN_COMFYUI = False

__all__ = ["IN_COMFYUI", "ComfyExtension", "ProgressBar", "folder_paths", "io", "model_management"]
