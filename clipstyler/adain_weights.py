"""AdaIN's released weights (the fast mode's start) and the authors' fine-tuned decoders, from files or a download.

Files are read without running pickled code (torch.load(weights_only=True), or safetensors) and checked key by key
and shape by shape against the architecture before anything is loaded, so a wrong file gets a message naming it.
"""

from __future__ import annotations

import os
import shutil

import torch
from safetensors.torch import load_file

from .adain import DECODER_FILENAME, ENCODER_FILENAME, RELEASE_URL, FastStyleNet, build_decoder, build_encoder
from .downloads import first_missing_folder, one_line, unreachable_reason
from .errors import CLIPstylerError, WeightsUnavailable

ADAIN_FOLDER = "adain"  # under the cache folder (CLI) or ComfyUI's models folder


def _read(path: str, what: str) -> dict[str, torch.Tensor]:
    if not os.path.isfile(path):
        raise CLIPstylerError(f"{what} {path!r}: no such file")
    try:
        state = load_file(path) if path.endswith(".safetensors") else torch.load(path, map_location="cpu",
                                                                                 weights_only=True)
    except Exception as error:  # pickle, zip and safetensors errors alike: not a weights file
        raise CLIPstylerError(f"could not read {what} {os.path.basename(path)!r} ({one_line(error)}); expected a "
                              "state dict saved with torch.save (.pth, .pth.tar) or a .safetensors") from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CLIPstylerError(f"{os.path.basename(path)!r} does not hold a state dict of tensors ({what})")
    return dict(state)


def _load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], path: str, what: str) -> None:
    """Load state into module after checking every key and shape; refuses NaN or infinite weights."""
    expected = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    found = {key: tuple(value.shape) for key, value in state.items() if key in expected}
    missing = sorted(set(expected) - set(found), key=_index_order)
    wrong = [key for key in found if found[key] != expected[key]]
    name = os.path.basename(path)
    if missing or wrong:
        problem = f"missing {missing[:3]}" if missing else f"wrong shapes at {wrong[:3]}"
        raise CLIPstylerError(f"{name!r} is not {what} ({problem})")
    damaged = [key for key in found if not torch.isfinite(state[key]).all()]
    if damaged:
        raise CLIPstylerError(f"{name!r} has NaN or infinite weights (in {damaged[:3]}): the file is damaged")
    module.load_state_dict({key: state[key].float() for key in expected})


def _index_order(key: str) -> tuple[int, str]:
    head = key.split(".")[0]
    return (int(head) if head.isdigit() else -1, key)


def _strip(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """A sub-module's keys from a whole-net file ("decoder.1.weight" -> "1.weight"); other files as they are."""
    if any(key.startswith(prefix) for key in state):
        return {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}
    return state


@torch.inference_mode(False)  # ordinary weights, usable by autograd, whoever calls
def load_encoder(path: str) -> torch.nn.Sequential:
    """AdaIN's normalised VGG-19 encoder (up to relu4_1) from vgg_normalised.pth (the full 53-layer file is fine)."""
    encoder = build_encoder()
    _load_into(encoder, _strip(_read(path, "AdaIN encoder"), "encoder."), path,
               f"AdaIN's normalised VGG-19 ({ENCODER_FILENAME})")
    return encoder


@torch.inference_mode(False)
def load_decoder(path: str) -> torch.nn.Sequential:
    """A decoder state dict: AdaIN's decoder.pth, or one fine-tuned by CLIPstyler (clip_decoder_*.pth.tar)."""
    decoder = build_decoder()
    _load_into(decoder, _strip(_read(path, "AdaIN decoder"), "decoder."), path,
               f"an AdaIN decoder ({DECODER_FILENAME} or the authors' clip_decoder_*.pth.tar)")
    return decoder


@torch.inference_mode(False)
def load_fast_stylenet(encoder_path: str, decoder_path: str) -> FastStyleNet:
    """A FastStyleNet from AdaIN's encoder file and a decoder file, on the CPU."""
    net = FastStyleNet()
    net.encoder.load_state_dict(load_encoder(encoder_path).state_dict())
    net.decoder.load_state_dict(load_decoder(decoder_path).state_dict())
    return net




def download_adain_file(filename: str, folder: str) -> str:
    """Download one of AdaIN's two released files into folder; returns its path.

    Written to a temporary name and renamed once complete; raises WeightsUnavailable when it cannot be had, and a
    folder this call created is then removed again.
    """
    url = RELEASE_URL + filename
    created = first_missing_folder(folder)
    reason = unreachable_reason(url)
    target = os.path.join(folder, filename)
    try:
        if reason is not None:
            raise OSError(reason)
        os.makedirs(folder, exist_ok=True)
        torch.hub.download_url_to_file(url, target, progress=True)  # temp file, then rename
    except Exception as error:  # network, HTTP and disk errors alike
        if created is not None and not any(files for _, _, files in os.walk(created)):
            shutil.rmtree(created, ignore_errors=True)
        raise WeightsUnavailable("adain", f"AdaIN {filename}", filename, url, reason or one_line(error)) from error
    return target


def adain_file(folder: str, filename: str, download: bool = True) -> str:
    """folder/filename, downloaded there first if it is missing and allowed."""
    path = os.path.join(folder, filename)
    if os.path.isfile(path):
        return path
    if not download:
        raise WeightsUnavailable("adain", f"AdaIN {filename}", filename, RELEASE_URL + filename,
                                 f"{filename} is not in {folder}")
    return download_adain_file(filename, folder)


def load_adain_start(folder: str, download: bool = True) -> FastStyleNet:
    """The fast mode's starting point: AdaIN's encoder and decoder from folder (downloaded there if missing)."""
    return load_fast_stylenet(adain_file(folder, ENCODER_FILENAME, download),
                              adain_file(folder, DECODER_FILENAME, download))
