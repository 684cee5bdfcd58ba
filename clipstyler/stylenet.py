"""StyleNet: the lightweight U-Net that CLIPstyler trains to stylize an image.

Layout and channel widths are the authors' exactly (docs/METHOD.md, "StyleNet"): ngf 16 gives 615,267 parameters.
Input and output: (B, 3, H, W) in [0, 1], H and W multiples of 8 (three stride-2 downsamplings).
"""

from __future__ import annotations

import torch
from torch import nn

from .instance_norm import InstanceNorm2d


class ResidualPair(nn.Module):
    """[conv3x3 -> IN -> ReLU -> conv3x3 -> IN -> ReLU] + conv1x1 skip (the reference's EncodingBlock)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            InstanceNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            InstanceNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.skip = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class DownBlock(nn.Module):
    """Residual pair, then a 4x4 stride-2 conv. Returns (downsampled, pre-down feature for the skip)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = ResidualPair(in_channels, out_channels)
        self.down = nn.Conv2d(out_channels, out_channels, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.block(x)
        return self.down(feature), feature


class UpBlock(nn.Module):
    """Bilinear x2 upsample, concatenate the skip, residual pair on (in + out) -> out channels."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear")
        self.block = ResidualPair(in_channels + out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(torch.cat([self.up(x), skip], dim=1))


class StyleNet(nn.Module):
    """The CLIPstyler U-Net (16, 32, 64 channels at ngf=16; 128 at the bottleneck).

    Args:
        ngf: base channel width (the reference uses 16).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W), H and W multiples of 8; output in (0, 1) through a sigmoid.
    """

    def __init__(self, ngf: int = 16) -> None:
        super().__init__()
        self.ngf = ngf
        self.conv_init = nn.Conv2d(3, ngf, 1)
        self.init = ResidualPair(ngf, ngf)
        self.down1 = DownBlock(ngf, ngf)
        self.down2 = DownBlock(ngf, 2 * ngf)
        self.down3 = DownBlock(2 * ngf, 4 * ngf)
        self.bottleneck = ResidualPair(4 * ngf, 8 * ngf)
        self.up3 = UpBlock(8 * ngf, 4 * ngf)
        self.up2 = UpBlock(4 * ngf, 2 * ngf)
        self.up1 = UpBlock(2 * ngf, ngf)
        self.out = ResidualPair(2 * ngf, ngf)
        self.conv_fin = nn.Conv2d(ngf, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 8 or x.shape[-1] % 8:
            raise ValueError(f"StyleNet needs height and width that are multiples of 8, got {tuple(x.shape[-2:])}")
        x = self.init(self.conv_init(x))
        d1, skip1 = self.down1(x)
        d2, skip2 = self.down2(d1)
        d3, skip3 = self.down3(d2)
        h = self.bottleneck(d3)
        h = self.up1(self.up2(self.up3(h, skip3), skip2), skip1)
        h = self.out(torch.cat([h, x], dim=1))
        return torch.sigmoid(self.conv_fin(h))


def build_stylenet(ngf: int = 16, seed: int | None = None) -> StyleNet:
    """A freshly initialised StyleNet on the CPU; the same seed gives the same weights on every device."""
    if seed is None:
        return StyleNet(ngf)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return StyleNet(ngf)
