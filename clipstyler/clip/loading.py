"""Loading CLIP: open_clip pretrained tags (downloaded into a cache folder) or a local checkpoint file.

Files: .safetensors; open_clip .bin/.pt/.pth state dicts (read with torch.load(weights_only=True)); and OpenAI's
TorchScript .pt archives (read with torch.jit.load, as that is their official format). Nothing else is unpickled.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import pickle
import zipfile
from collections.abc import Iterator

import huggingface_hub
import open_clip
import torch
from open_clip.model import build_model_from_openai_state_dict
from open_clip.tokenizer import SimpleTokenizer
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..downloads import one_line, unreachable_reason
from ..errors import CLIPstylerError, WeightsUnavailable
from .model import OPENAI_MEAN, OPENAI_STD, StylerCLIP

log = logging.getLogger(__name__)

AUTO_ARCHITECTURE = "auto"
DEFAULT_PRETRAINED = ("ViT-B-32", "openai")


def list_pretrained() -> list[tuple[str, str]]:
    """(architecture, tag) pairs that open_clip can download."""
    return [tuple(pair) for pair in open_clip.list_pretrained()]


def _pretrained_source(architecture: str, tag: str) -> tuple[str, str, str]:
    """(where open_clip downloads from, a file a user can fetch instead, its url) for a pretrained tag."""
    config = open_clip.get_pretrained_cfg(architecture, tag) or {}
    hub_page = f"https://huggingface.co/{config.get('hf_hub', '').rstrip('/')}"
    download_from = hub_page if config.get("hf_hub") else config.get("url", "")
    if config.get("url"):  # OpenAI's own files, e.g. ViT-B-32.pt: one well-known file
        return download_from, config["url"].rsplit("/", 1)[-1], config["url"]
    return download_from, "open_clip_model.safetensors", hub_page


def _activation_of_the_weights(architecture: str, tag: str) -> dict:
    """create_model arguments that give the architecture the activation its weights were trained with.

    OpenAI's weights use QuickGELU, but open_clip's plain configs ("ViT-B-32") use GELU since 2.29 and only warn
    about the mismatch: "ViT-B-32/openai" would silently give different embeddings from OpenAI's CLIP, which the
    authors' code uses. The tag's own configuration says which activation it needs.
    """
    config = open_clip.get_pretrained_cfg(architecture, tag) or {}
    return {"force_quick_gelu": True} if config.get("quick_gelu") else {}


@contextlib.contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """Hugging Face Hub in offline mode for the block: cached files load at once, missing ones fail at once."""
    constants = getattr(huggingface_hub, "constants", None)
    if not offline or not hasattr(constants, "HF_HUB_OFFLINE"):
        yield
        return
    previous, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


class _DropOpenClipErrors(logging.Filter):
    """open_clip logs a failed download on the root logger before raising; our error says it better."""

    def filter(self, record: logging.LogRecord) -> bool:
        return f"{os.sep}open_clip{os.sep}" not in record.pathname


@torch.inference_mode(False)  # ordinary weights, usable by autograd, whoever calls
def load_pretrained_clip(architecture: str, tag: str, cache_dir: str | None = None) -> StylerCLIP:
    """An open_clip model with pretrained weights, downloaded into cache_dir if not there yet (on the CPU).

    Raises WeightsUnavailable, naming the file and where to get it, when the weights are neither cached nor
    downloadable; offline that takes a second, not a minute of retries.
    """
    if (architecture, tag) not in set(list_pretrained()):
        known = [f"{a}/{t}" for a, t in list_pretrained()]
        close = difflib.get_close_matches(f"{architecture}/{tag}", known, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise CLIPstylerError(
            f"open_clip has no pretrained weights {architecture}/{tag}: {hint}(open_clip.list_pretrained() lists them)"
        )
    download_from, file_name, url = _pretrained_source(architecture, tag)
    offline_reason = unreachable_reason(download_from)
    root, quiet = logging.getLogger(), _DropOpenClipErrors()
    root.addFilter(quiet)
    try:
        with _hub_offline(offline_reason is not None):
            model = open_clip.create_model(architecture, pretrained=tag, cache_dir=cache_dir,
                                           **_activation_of_the_weights(architecture, tag))
            tokenizer = open_clip.get_tokenizer(architecture, cache_dir=cache_dir)
    except Exception as error:  # network, hub, cache and file errors alike: the weights cannot be had
        cause = f"{offline_reason} Not in the cache either" if offline_reason else one_line(error)
        raise WeightsUnavailable("clip", f"CLIP {architecture}/{tag}", file_name, url, cause) from error
    finally:
        root.removeFilter(quiet)
    return _wrap(model, tokenizer, f"{architecture}/{tag}")


def _is_torchscript_archive(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in archive.namelist())


# What a file that is not a readable checkpoint raises: safetensors' own error; torch.load's (pickle refusing a
# non-tensor object under weights_only, truncated or non-zip data); I/O. A TypeError or AttributeError is a bug (e.g.
# an API the installed version lacks), not a bad file, and is let through.
_UNREADABLE = (SafetensorError, pickle.UnpicklingError, EOFError, RuntimeError, ValueError, OSError,
               zipfile.BadZipFile)


def _load_checkpoint(path: str) -> object:
    """The file's contents: safetensors by name (as open_clip decides), OpenAI's TorchScript archives, else torch.load
    of tensors only. Read here rather than by open_clip.factory.load_state_dict, whose arguments differ across
    open_clip versions (before 2.27 it took map_location and no weights_only, and no .safetensors)."""
    if path.lower().endswith(".safetensors"):
        return load_file(path, device="cpu")
    if _is_torchscript_archive(path):
        return torch.jit.load(path, map_location="cpu").state_dict()
    return torch.load(path, map_location="cpu", weights_only=True)


def _unwrap(checkpoint: object) -> object:
    """open_clip training checkpoints: {"state_dict": ...}, with DDP's "module." key prefix."""
    state = checkpoint["state_dict"] if isinstance(checkpoint, dict) and "state_dict" in checkpoint else checkpoint
    if isinstance(state, dict) and state and all(isinstance(k, str) and k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """A checkpoint file's tensors, without unpickling anything but OpenAI's own TorchScript format."""
    if not os.path.isfile(path):
        raise CLIPstylerError(f"CLIP checkpoint {path!r}: no such file")
    try:
        state = _unwrap(_load_checkpoint(path))
    except _UNREADABLE as error:  # the file is not a checkpoint
        raise CLIPstylerError(
            f"could not read CLIP checkpoint {os.path.basename(path)!r} ({type(error).__name__}: {error}); "
            "expected a .safetensors, an open_clip state dict or OpenAI's .pt file"
        ) from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CLIPstylerError(f"CLIP checkpoint {os.path.basename(path)!r} does not hold a state dict of tensors")
    # TorchScript files also carry these as tensors (OpenAI's metadata; open_clip's recomputed causal mask).
    for key in ("input_resolution", "context_length", "vocab_size", "attn_mask"):
        state.pop(key, None)
    return dict(state)


def _check_full_clip(state: dict[str, torch.Tensor], path: str) -> None:
    has_vision = any(k.startswith("visual.") for k in state)
    has_text = "token_embedding.weight" in state or any(k.startswith("text.") for k in state)
    if not has_vision or not has_text:
        missing = "image encoder ('visual.*')" if not has_vision else "text encoder ('token_embedding', ...)"
        raise CLIPstylerError(
            f"{os.path.basename(path)!r} has no {missing}: CLIPstyler needs a full CLIP with both encoders, "
            "such as OpenAI's ViT-B-32.pt or open_clip's open_clip_model.safetensors (ComfyUI's text-encoder-only "
            "clip_l files and clip_vision files are not enough)"
        )


@torch.inference_mode(False)  # ordinary weights, usable by autograd, whoever calls
def load_clip_file(path: str, architecture: str = AUTO_ARCHITECTURE) -> StylerCLIP:
    """A CLIP from a local checkpoint, on the CPU.

    Args:
        path: the checkpoint file.
        architecture: "auto" infers an OpenAI-style CLIP (ViT or ResNet, QuickGELU) from the weights' shapes;
            otherwise an open_clip model name (open_clip.list_models()) whose weights must match exactly.
    """
    state = read_state_dict(path)
    _check_full_clip(state, path)
    name = os.path.basename(path)
    if architecture == AUTO_ARCHITECTURE:
        try:
            # open_clip builds this in fp16 and loads into it; loading again into fp32 keeps the file's precision.
            model = build_model_from_openai_state_dict(dict(state), cast_dtype=None).float()
            model.load_state_dict(state)
        except (KeyError, RuntimeError, AssertionError) as error:
            raise CLIPstylerError(
                f"could not infer the CLIP architecture of {name!r} ({type(error).__name__}: {error}); "
                "choose its architecture (an open_clip model name) instead of 'auto'"
            ) from error
        tokenizer = SimpleTokenizer(context_length=model.context_length)
        return _wrap(model, tokenizer, name)
    if architecture not in open_clip.list_models():
        raise CLIPstylerError(f"architecture {architecture!r} is not an open_clip model name (open_clip.list_models())")
    model = open_clip.create_model(architecture, pretrained=None)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shapes differ
        raise CLIPstylerError(
            f"{name!r} does not match architecture {architecture!r}: {str(error).splitlines()[1:3]}; "
            "pick the matching architecture or 'auto'"
        ) from error
    if result.missing_keys or result.unexpected_keys:
        raise CLIPstylerError(
            f"{name!r} does not match architecture {architecture!r}: {len(result.missing_keys)} missing weights "
            f"(e.g. {result.missing_keys[:3]}), {len(result.unexpected_keys)} unexpected (e.g. "
            f"{result.unexpected_keys[:3]}); pick the matching architecture or 'auto'"
        )
    return _wrap(model, open_clip.get_tokenizer(architecture), f"{name} ({architecture})")


def _wrap(model: torch.nn.Module, tokenizer, name: str) -> StylerCLIP:
    preprocess = getattr(model.visual, "preprocess_cfg", None) or {}
    image_size = model.visual.image_size
    image_size = image_size[0] if isinstance(image_size, (tuple, list)) else int(image_size)
    return StylerCLIP(
        model=model.float(),
        tokenizer=tokenizer,
        name=name,
        image_size=image_size,
        mean=tuple(preprocess.get("mean", OPENAI_MEAN)),
        std=tuple(preprocess.get("std", OPENAI_STD)),
    )


@torch.inference_mode(False)  # ordinary weights, usable by autograd, whoever calls
def random_clip(architecture: str = "ViT-B-32") -> StylerCLIP:
    """An open_clip architecture with random weights: for tests and benchmarks (the cost is the weights' shape)."""
    model = open_clip.create_model(architecture, pretrained=None)
    return _wrap(model, open_clip.get_tokenizer(architecture), f"{architecture}/random")
