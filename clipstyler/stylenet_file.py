"""A trained style as a shareable file: StyleNet weights in safetensors, the texts and settings in its metadata."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from safetensors import safe_open
from safetensors.torch import save_file

from .errors import CLIPstylerError
from .stylenet import StyleNet

FORMAT = "clipstyler.stylenet"
FORMAT_VERSION = "1"


@dataclass
class TrainedStyle:
    """A StyleNet and what made it: style_text, source_text, clip_name and the settings dict."""

    stylenet: StyleNet
    style_text: str = ""
    source_text: str = ""
    clip_name: str = ""
    settings: dict = field(default_factory=dict)

    def metadata(self) -> dict[str, str]:
        """safetensors metadata: str -> str only."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "ngf": str(self.stylenet.ngf),
            "style_text": self.style_text,
            "source_text": self.source_text,
            "clip": self.clip_name,
            "settings": json.dumps(self.settings, sort_keys=True),
        }


def save_style(style: TrainedStyle, path: str) -> str:
    """Write style to path (.safetensors), creating folders; returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in style.stylenet.state_dict().items()}
    save_file(tensors, path, metadata=style.metadata())
    return path


def load_style(path: str) -> TrainedStyle:
    """Read a file written by save_style; a clear CLIPstylerError for a missing, corrupt or foreign file."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise CLIPstylerError(f"StyleNet file {path!r} does not exist")
    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:
        raise CLIPstylerError(
            f"could not read StyleNet file {name!r} ({type(error).__name__}: {error}); it must be a .safetensors "
            "saved by Save StyleNet"
        ) from error
    if metadata.get("format") != FORMAT:
        raise CLIPstylerError(f"{name!r} is a safetensors file but not a CLIPstyler StyleNet (no '{FORMAT}' metadata)")
    try:
        ngf = int(metadata.get("ngf", "16"))
        settings = json.loads(metadata.get("settings", "{}"))
    except ValueError as error:
        raise CLIPstylerError(f"{name!r} has unreadable metadata: {error}") from error
    net = StyleNet(ngf)
    try:
        net.load_state_dict(tensors)
    except RuntimeError as error:
        raise CLIPstylerError(f"{name!r} does not hold StyleNet weights matching ngf={ngf}: {error}") from error
    return TrainedStyle(
        stylenet=net.eval(),
        style_text=metadata.get("style_text", ""),
        source_text=metadata.get("source_text", ""),
        clip_name=metadata.get("clip", ""),
        settings=settings,
    )
