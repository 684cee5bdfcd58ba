"""ComfyUI's API for the nodes: `io`, `model_management`, `ProgressBar` and `folder_paths`, from ComfyUI itself.

Inside ComfyUI these are simply imported. Outside a running ComfyUI (the pack's tests, tools that list its nodes),
a ComfyUI checkout named by $COMFYUI_PATH, or the development checkout in `.comfyui/ComfyUI` beside this pack, is
used instead. There is no stand-in: a node that imports here behaves as it will in ComfyUI.
"""

from __future__ import annotations

import importlib.util
import os
import sys

MINIMUM_COMFYUI = "0.3.48"  # the first release with the schema node API (comfy_api.latest.io.ComfyNode)
_PACK = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def comfyui_checkout() -> str | None:
    """The ComfyUI folder named by $COMFYUI_PATH, or the pack's development checkout, if it holds ComfyUI."""
    path = os.environ.get("COMFYUI_PATH") or os.path.join(_PACK, ".comfyui", "ComfyUI")
    return path if os.path.isfile(os.path.join(path, "comfy", "model_management.py")) else None


def _use_comfyui_checkout() -> None:
    """Make a ComfyUI checkout importable in a process that is not a ComfyUI server."""
    path = comfyui_checkout()
    if path is None:
        raise ImportError(
            "ComfyUI-CLIPstyler's nodes run inside ComfyUI: put this folder in ComfyUI/custom_nodes/. Outside "
            "ComfyUI use the clipstyler library or its command line (python -m clipstyler); to import the nodes "
            "in tests or tools, set COMFYUI_PATH to a ComfyUI checkout.",
            name="comfy",  # ComfyUI itself is missing (the pack's __init__ tells this apart from a broken ComfyUI)
        )
    sys.path.append(path)  # appended: ComfyUI's top-level modules (nodes, utils, ...) must not shadow anything
    import comfy.cli_args
    import torch

    # ComfyUI picks its device at import; without a GPU that fails unless told --cpu, as its server would be.
    if not torch.cuda.is_available():
        comfy.cli_args.args.cpu = True


def _comfyui_version() -> str:
    try:
        from comfyui_version import __version__
    except ImportError:
        return "unknown version"
    return __version__


if importlib.util.find_spec("comfy") is None:
    _use_comfyui_checkout()

try:
    from comfy_api.latest import io
except ImportError as error:
    if error.name not in ("comfy_api", "comfy_api.latest"):
        raise  # the schema API is there but does not import (e.g. a dependency of ComfyUI's): its own error says why
    raise ImportError(
        f"ComfyUI-CLIPstyler needs ComfyUI {MINIMUM_COMFYUI} or newer (the schema node API, comfy_api.latest); "
        f"this ComfyUI is {_comfyui_version()}: update ComfyUI (git pull, or ComfyUI Manager's Update ComfyUI).",
        name="comfy_api",
    ) from error

import comfy.model_management as model_management  # noqa: E402
import folder_paths  # noqa: E402
from comfy.utils import ProgressBar  # noqa: E402


def prompt_server():
    """ComfyUI's running PromptServer, or None in a process that is not a ComfyUI server (tests, tools).

    ComfyUI's main.py imports its `server` module before it loads custom nodes. It is looked up, not imported:
    importing it elsewhere would pull in ComfyUI's whole web stack to reach a server that does not exist.
    """
    return getattr(getattr(sys.modules.get("server"), "PromptServer", None), "instance", None)


def send_to_front_end(event: str, data: dict) -> bool:
    """Send a message of the pack's own (`event`, JSON `data`) to the front end that queued the running prompt, as
    ComfyUI's executor sends "executing" and "executed"; False where there is no server, or the prompt came without
    a client id (a script's API call): no front end waits for it, and others' might hold a node of that id."""
    server = prompt_server()
    if server is None or getattr(server, "client_id", None) is None:
        return False
    server.send_sync(event, data, server.client_id)
    return True


def executing_prompt_id() -> str | None:
    """The id of the prompt being run (as ComfyUI's progress messages carry it), or None outside a run."""
    try:
        from comfy_execution.utils import get_executing_context
    except ImportError:  # a ComfyUI before the executing context: the server's last prompt
        context = None
    else:
        context = get_executing_context()
    if context is not None:
        return context.prompt_id
    return getattr(prompt_server(), "last_prompt_id", None)


__all__ = ["MINIMUM_COMFYUI", "ProgressBar", "comfyui_checkout", "executing_prompt_id", "folder_paths", "io",
           "model_management", "prompt_server", "send_to_front_end"]
