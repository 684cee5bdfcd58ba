"""A trained style as a shareable file: the net's weights in safetensors, the texts and settings in its metadata.

Two kinds of net (metadata "kind"): the per-image U-Net ("unet", files without a kind are this one) and the fast
mode's AdaIN encoder-decoder ("adain", encoder and decoder both stored, so the file is self-contained). The authors'
released fast-mode decoders (plain state dicts, `clip_decoder_*.pth.tar`) load too, with AdaIN's encoder file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

import torch
from safetensors import safe_open

from . import stylenet as stylenet_module
from .adain import FastStyleNet
from .atomic_write import atomic_write
from .errors import CLIPstylerError
from .output_paths import check_output_file
from .stable_safetensors import stable_safetensors_bytes
from .stylenet import StyleNet

FORMAT = "clipstyler.stylenet"
FORMAT_VERSION = "1"
UNET, ADAIN = "unet", "adain"
KINDS = (UNET, ADAIN)


@dataclass
class TrainedStyle:
    """A trained net (StyleNet or FastStyleNet) and what made it: style_text, source_text, clip_name, the settings
    dict, and `start`: what the net was fine-tuned from where that is known (for the fast kind, a digest of the
    starting decoder's weights), so interpolate.py can tell whether two nets share a starting point."""

    stylenet: StyleNet | FastStyleNet
    style_text: str = ""
    source_text: str = ""
    clip_name: str = ""
    settings: dict = field(default_factory=dict)
    start: str = ""

    @property
    def kind(self) -> str:
        return ADAIN if isinstance(self.stylenet, FastStyleNet) else UNET

    def metadata(self) -> dict[str, str]:
        """safetensors metadata: str -> str only."""
        if not isinstance(self.stylenet, (stylenet_module.StyleNet, FastStyleNet)):
            raise CLIPstylerError(f"a {type(self.stylenet).__name__} cannot be saved as a StyleNet file (only a "
                                  "U-Net StyleNet or a fast-mode AdaIN net can; a blend of two unrelated nets "
                                  "cannot: save each of them instead)")
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "ngf": str(getattr(self.stylenet, "ngf", 0)),
            "start": self.start,
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
    metadata = style.metadata()
    tensors = {k: v.detach().cpu().contiguous() for k, v in style.stylenet.state_dict().items()}
    data = stable_safetensors_bytes(tensors, metadata)  # the same bytes for the same style (reproducible runs)
    with atomic_write(path) as temporary, open(temporary, "wb") as file:
        file.write(data)
    return path


def _declared_width(metadata: dict[str, str], name: str) -> int:
    try:
        ngf = int(metadata.get("ngf", "16"))
    except ValueError as error:
        raise CLIPstylerError(f"{name!r} has unreadable metadata: ngf={metadata.get('ngf')!r}") from error
    if not 1 <= ngf <= MAX_NGF:
        raise CLIPstylerError(f"{name!r} declares a StyleNet width ngf={ngf}, outside 1..{MAX_NGF}: not a usable style")
    return ngf


def _empty_net(metadata: dict[str, str], name: str) -> StyleNet | FastStyleNet:
    """The net the file declares, built on the meta device (nothing allocated)."""
    kind = metadata.get("kind", UNET)
    if kind not in KINDS:
        raise CLIPstylerError(f"{name!r} holds a kind of net this version does not know ({kind!r}; known: "
                              f"{', '.join(KINDS)}): update ComfyUI-CLIPstyler")
    with torch.device("meta"):
        return FastStyleNet() if kind == ADAIN else StyleNet(_declared_width(metadata, name))


def _check_shapes(shapes: dict[str, tuple[int, ...]], net: StyleNet | FastStyleNet, name: str) -> None:
    """The file's tensor shapes against the declared net's."""
    expected = {key: tuple(value.shape) for key, value in net.state_dict().items()}
    if shapes != expected:
        wrong = sorted(set(shapes) ^ set(expected)) or [k for k in expected if shapes[k] != expected[k]]
        what = ("fast-mode AdaIN encoder-decoder weights" if isinstance(net, FastStyleNet)
                else f"StyleNet weights matching ngf={net.ngf}")
        raise CLIPstylerError(f"{name!r} does not hold {what} (first differences: {wrong[:3]})")


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
            empty = _empty_net(metadata, name)
            _check_shapes({key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}, empty, name)
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
    with torch.inference_mode(False):  # ordinary weights, whoever calls
        net = FastStyleNet() if isinstance(empty, FastStyleNet) else StyleNet(empty.ngf)
        net.load_state_dict(tensors)
    return TrainedStyle(
        stylenet=net.eval(),
        style_text=metadata.get("style_text", ""),
        source_text=metadata.get("source_text", ""),
        clip_name=metadata.get("clip", ""),
        settings=settings if isinstance(settings, dict) else {},
        start=metadata.get("start", ""),
    )


RELEASED_EXTENSIONS = (".pth", ".pth.tar", ".tar", ".pt")
RELEASED_PREFIX = "clip_decoder_"
# What a released decoder started from is not recorded (the authors fine-tune from AdaIN's decoder.pth): unknown.
RELEASED_START = ""


def weights_digest(module: torch.nn.Module) -> str:
    """A short digest of a module's weights, to record what a net was fine-tuned from ("sha256:" + 16 hex)."""
    digest = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().float().contiguous().numpy().tobytes())
    return "sha256:" + digest.hexdigest()[:16]


def is_released_decoder(path: str) -> bool:
    """A plain torch.save'd decoder (the authors' clip_decoder_*.pth.tar) rather than a .safetensors style."""
    return path.lower().endswith(RELEASED_EXTENSIONS)


def text_from_released_name(path: str) -> str:
    """The style text a released decoder's file name suggests: clip_decoder_stonewall.pth.tar -> 'stonewall'."""
    name = os.path.basename(path)
    for extension in sorted(RELEASED_EXTENSIONS, key=len, reverse=True):
        if name.lower().endswith(extension):
            name = name[: -len(extension)]
            break
    return name.removeprefix(RELEASED_PREFIX).replace("_", " ")


def load_released_decoder(path: str, encoder_path: str, style_text: str | None = None) -> TrainedStyle:
    """A fast-mode style from one of the authors' fine-tuned decoders and AdaIN's encoder (vgg_normalised.pth).

    style_text: what it was trained for; by default guessed from the file name (clip_decoder_<text>.pth.tar).
    """
    from .adain_weights import load_fast_stylenet  # reads torch files; only needed for this format

    net = load_fast_stylenet(encoder_path, path).eval()
    return TrainedStyle(net, style_text if style_text is not None else text_from_released_name(path),
                        "a Photo", "ViT-B-32/openai", {"released_decoder": os.path.basename(path)}, RELEASED_START)


def load_any_style(path: str, encoder_path: str | None = None) -> TrainedStyle:
    """A .safetensors style (either kind), or a released decoder file, which needs AdaIN's encoder file."""
    if not is_released_decoder(path):
        return load_style(path)
    if encoder_path is None:
        raise CLIPstylerError(f"{os.path.basename(path)!r} is a fast-mode decoder alone: it needs AdaIN's "
                              "vgg_normalised.pth as its encoder")
    return load_released_decoder(path, encoder_path)
