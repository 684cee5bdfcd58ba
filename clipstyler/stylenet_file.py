"""A trained style as a shareable file: StyleNet weights in safetensors, the texts and settings in its metadata."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .atomic_write import atomic_write
from .errors import CLIPstylerError
from .output_paths import check_output_file
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


STYLE_EXTENSIONS = (".safetensors",)
MAX_NGF = 256  # StyleNet width a file may declare; 256 is already a 630 MB net (the paper's 16 is 2.5 MB)


def check_style_output(path: str) -> None:
    """Raise a CLIPstylerError now, before any long work, if a style cannot be written to path later."""
    check_output_file(path, STYLE_EXTENSIONS, "StyleNet file")


def save_style(style: TrainedStyle, path: str) -> str:
    """Write style to path (.safetensors, atomically, mode 0644), creating folders; returns the path."""
    check_style_output(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in style.stylenet.state_dict().items()}
    with atomic_write(path) as temporary:
        save_file(tensors, temporary, metadata=style.metadata())
    return path


def _declared_width(metadata: dict[str, str], name: str) -> int:
    try:
        ngf = int(metadata.get("ngf", "16"))
    except ValueError as error:
        raise CLIPstylerError(f"{name!r} has unreadable metadata: ngf={metadata.get('ngf')!r}") from error
    if not 1 <= ngf <= MAX_NGF:
        raise CLIPstylerError(f"{name!r} declares a StyleNet width ngf={ngf}, outside 1..{MAX_NGF}: not a usable style")
    return ngf


def _check_shapes(shapes: dict[str, tuple[int, ...]], ngf: int, name: str) -> None:
    """The file's tensor shapes against a StyleNet of width ngf, built on the meta device (nothing allocated)."""
    with torch.device("meta"):
        expected = {key: tuple(value.shape) for key, value in StyleNet(ngf).state_dict().items()}
    if shapes != expected:
        wrong = sorted(set(shapes) ^ set(expected)) or [k for k in expected if shapes[k] != expected[k]]
        raise CLIPstylerError(
            f"{name!r} does not hold StyleNet weights matching ngf={ngf} (first differences: {wrong[:3]})"
        )


def load_style(path: str) -> TrainedStyle:
    """Read a file written by save_style; a clear CLIPstylerError for a missing, corrupt, foreign or damaged file.

    The header (metadata, tensor names and shapes) is checked before any weight is read, so a file cannot make
    this allocate more than a StyleNet of the width it declares, and weights that are NaN or infinite are refused.
    """
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise CLIPstylerError(f"StyleNet file {path!r} does not exist")
    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != FORMAT:
                raise CLIPstylerError(
                    f"{name!r} is a safetensors file but not a CLIPstyler StyleNet (no '{FORMAT}' metadata)"
                )
            ngf = _declared_width(metadata, name)
            _check_shapes({key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}, ngf, name)
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except CLIPstylerError:
        raise
    except Exception as error:  # safetensors raises its own error types for damaged headers and data
        raise CLIPstylerError(
            f"could not read StyleNet file {name!r} ({type(error).__name__}: {error}); it must be a .safetensors "
            "saved by Save StyleNet"
        ) from error
    damaged = [key for key, tensor in tensors.items() if not torch.isfinite(tensor).all()]
    if damaged:
        raise CLIPstylerError(f"{name!r} has NaN or infinite weights (in {damaged[:3]}): the style is damaged")
    try:
        settings = json.loads(metadata.get("settings", "{}"))
    except ValueError as error:
        raise CLIPstylerError(f"{name!r} has unreadable metadata: {error}") from error
    net = StyleNet(ngf)
    net.load_state_dict(tensors)
    return TrainedStyle(
        stylenet=net.eval(),
        style_text=metadata.get("style_text", ""),
        source_text=metadata.get("source_text", ""),
        clip_name=metadata.get("clip", ""),
        settings=settings if isinstance(settings, dict) else {},
    )
