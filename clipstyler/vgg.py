"""VGG-19 content features: torchvision VGG-19, relu4_2 and relu5_2 (docs/METHOD.md, "Content loss")."""

from __future__ import annotations

import os
import shutil

import torch
from safetensors.torch import load_file
from torch import nn
from torchvision.models import VGG19_Weights
from torchvision.models.vgg import cfgs, make_layers

from .downloads import first_missing_folder, one_line, unreachable_reason
from .errors import CLIPstylerError, WeightsUnavailable

VGG19_FILENAME = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet weights, as the authors' code uses
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The reference reads features[21] and features[31]. Index 21 is conv4_2, but torchvision's in-place ReLU at 22
# overwrites that tensor, so the reference really compares relu4_2; index 31 is relu5_2 itself. We take the ReLU
# outputs (22, 31) explicitly, and stop there: later layers are never read.
CONTENT_LAYERS = (22, 31)


class VGGContent(nn.Module):
    """VGG-19 features up to relu5_2 (the rest of the network is never needed), frozen.

    Shape:
        (B, 3, H, W) in [0, 1] -> [(B, 512, H/8, W/8) relu4_2, (B, 512, H/16, W/16) relu5_2].
    """

    def __init__(self) -> None:
        super().__init__()
        # torchvision's VGG-19 feature layers (config "E"), built alone: the classifier is never needed.
        self.features = make_layers(cfgs["E"])[: CONTENT_LAYERS[-1] + 1]
        for module in self.features:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # so a layer's output is never changed behind our back
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in CONTENT_LAYERS:
                outputs.append(x)
        return outputs




def download_vgg19(folder: str) -> str:
    """Download torchvision's VGG-19 ImageNet weights into folder (hash-checked); returns the file's path.

    Raises WeightsUnavailable when the download fails; a folder this call created is then removed again, so a
    failed first run leaves nothing behind.
    """
    url = VGG19_Weights.IMAGENET1K_V1.url
    created = first_missing_folder(folder)
    reason = unreachable_reason(url)
    try:
        if reason is not None:
            raise OSError(reason)
        os.makedirs(folder, exist_ok=True)
        # torch.hub writes to a temporary file and renames it only once complete and hash-checked.
        torch.hub.load_state_dict_from_url(url, model_dir=folder, map_location="cpu", check_hash=True,
                                           weights_only=True)
    except Exception as error:  # network, HTTP, hash and disk errors alike: the weights cannot be had
        if created is not None and not any(files for _, _, files in os.walk(created)):
            shutil.rmtree(created, ignore_errors=True)
        cause = reason or one_line(error)
        raise WeightsUnavailable("vgg", "VGG-19 (torchvision)", VGG19_FILENAME, url, cause) from error
    return os.path.join(folder, VGG19_FILENAME)


def _read_weights(path: str) -> dict[str, torch.Tensor]:
    try:
        if path.endswith(".safetensors"):
            return load_file(path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CLIPstylerError(
            f"could not read VGG-19 weights {os.path.basename(path)!r} ({type(error).__name__}: {error}); "
            f"expected torchvision's {VGG19_FILENAME} or a .safetensors of its state dict"
        ) from error


@torch.inference_mode(False)  # ordinary weights, usable by autograd, whoever calls
def load_vgg19(path: str) -> VGGContent:
    """VGGContent from a torchvision VGG-19 state dict file (full, or its 'features.*' part), on the CPU."""
    if not os.path.isfile(path):
        raise CLIPstylerError(f"VGG-19 weights {path!r}: no such file")
    state = _read_weights(path)
    if not isinstance(state, dict):
        raise CLIPstylerError(f"{os.path.basename(path)!r} does not hold a VGG-19 state dict")
    model = VGGContent()
    wanted = model.features.state_dict().keys()
    features = {k.removeprefix("features."): v for k, v in state.items() if k.removeprefix("features.") in wanted}
    missing = sorted(set(wanted) - set(features))
    if missing:
        raise CLIPstylerError(
            f"{os.path.basename(path)!r} is not a torchvision VGG-19 state dict: missing {missing[:4]}"
        )
    try:
        model.features.load_state_dict(features)
    except RuntimeError as error:
        name = os.path.basename(path)
        raise CLIPstylerError(f"{name!r} has weights of the wrong shape for VGG-19: {error}") from error
    return model


def load_vgg19_from_folder(folder: str, download: bool = True) -> VGGContent:
    """Torchvision's VGG-19 from folder/vgg19-dcbb9e9d.pth, downloaded there first if it is missing and allowed."""
    path = os.path.join(folder, VGG19_FILENAME)
    if not os.path.isfile(path):
        if not download:
            raise CLIPstylerError(f"{VGG19_FILENAME} is not in {folder!r}; put torchvision's VGG-19 weights there")
        path = download_vgg19(folder)
    return load_vgg19(path)
