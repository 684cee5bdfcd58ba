"""The paper's fast-mode network: AdaIN's VGG encoder (frozen, up to relu4_1) and AdaIN's decoder (fine-tuned).

Both follow the layout of AdaIN's released `vgg_normalised.pth` and `decoder.pth` (Huang & Belongie 2017, the
PyTorch port the authors' `fast_stylenet.py` uses) index for index, so those files and the authors' fine-tuned
`clip_decoder_*.pth.tar` load as they are: the encoder's keys are "0.weight", "2.weight", ... and the decoder's
"1.weight", "5.weight", ... (docs/METHOD.md, "Fast style transfer").

Shape: (B, 3, H, W) in [0, 1] -> (B, 512, H/8, W/8) relu4_1 features -> (B, 3, H, W), H and W multiples of 8 (the
encoder pools three times, the decoder upsamples three times). The decoder's output is not bounded (no sigmoid, as
in the paper): training sees it as it is; apply_stylenet clamps it to [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

ENCODER_FILENAME = "vgg_normalised.pth"
DECODER_FILENAME = "decoder.pth"
RELEASE_URL = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/"
# The full normalised VGG-19 has 53 modules; AdaIN and the authors use the first 31 (up to relu4_1).
ENCODER_LAYERS = 31

# (in, out) channels of the 3x3 convolutions of the normalised VGG-19, "M" a max pool; the first module is a 1x1 conv
# that folds the RGB mean subtraction and channel order into the weights.
_VGG_CONVS = [(3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256), (256, 256), (256, 256),
              "M", (256, 512), (512, 512), (512, 512), (512, 512), "M", (512, 512), (512, 512), (512, 512),
              (512, 512)]
# The decoder mirrors the encoder up to relu4_1: "U" a nearest x2 upsampling.
_DECODER_CONVS = [(512, 256), "U", (256, 256), (256, 256), (256, 256), (256, 128), "U", (128, 128), (128, 64), "U",
                  (64, 64), (64, 3)]


def _reflect_conv(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(in_channels, out_channels, (3, 3))]


def full_normalised_vgg() -> nn.Sequential:
    """The 53-module normalised VGG-19 of `vgg_normalised.pth` (ceil-mode pools, reflection padding)."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, (1, 1))]
    for item in _VGG_CONVS:
        if item == "M":
            layers.append(nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True))
        else:
            layers += [*_reflect_conv(*item), nn.ReLU()]
    return nn.Sequential(*layers)


def build_encoder() -> nn.Sequential:
    """The first 31 modules of the normalised VGG-19 (input -> relu4_1), frozen; the keys of vgg_normalised.pth."""
    encoder = full_normalised_vgg()[:ENCODER_LAYERS]
    return encoder.eval().requires_grad_(False)


def build_decoder() -> nn.Sequential:
    """AdaIN's decoder (relu4_1 -> RGB): reflection padding, ReLU, nearest upsampling; no output activation."""
    layers: list[nn.Module] = []
    for index, item in enumerate(_DECODER_CONVS):
        if item == "U":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            layers += _reflect_conv(*item)
            if index < len(_DECODER_CONVS) - 1:
                layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class FastStyleNet(nn.Module):
    """The fast mode's StyleNet: frozen AdaIN encoder, then the decoder CLIPstyler fine-tunes.

    Shape:
        (B, 3, H, W) in [0, 1] -> (B, 3, H, W) unbounded, H and W multiples of 8.
    """

    kind = "adain"

    def __init__(self) -> None:
        super().__init__()
        self.encoder = build_encoder()
        self.decoder = build_decoder()

    def train(self, mode: bool = True) -> FastStyleNet:
        super().train(mode)
        self.encoder.eval()  # frozen: only the decoder trains (it has no dropout or norm layers either way)
        return self

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """relu4_1 features: (B, 3, H, W) -> (B, 512, H/8, W/8)."""
        return self.encoder(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2] % 8 or images.shape[-1] % 8:
            raise ValueError(f"FastStyleNet needs height and width that are multiples of 8, got "
                             f"{tuple(images.shape[-2:])}")
        return self.decoder(self.encode(images))
