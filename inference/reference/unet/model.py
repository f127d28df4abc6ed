"""A small 3D U-Net: two convolutions per level, instance norm and LeakyReLU, as nnU-Net builds its plans.

The network maps ``(batch, channels, z, y, x)`` to one logit per voxel (lesion versus background). Any
input size works: the volume is padded to a multiple of ``2 ** levels`` on the way in and cropped back on
the way out, so odd ISLES'24 grids (512x586x74) need no resampling.
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional

__all__ = ["UNet3d", "UNetConfig"]

NEGATIVE_SLOPE = 0.01


@dataclass(frozen=True)
class UNetConfig:
    """The shape of a U-Net: input channels, channels at the first level (doubled per level), levels."""

    in_channels: int
    base_channels: int = 8
    levels: int = 2

    def as_json(self) -> dict[str, int]:
        return asdict(self)


def _convolutions(in_channels: int, out_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for channels in (in_channels, out_channels):
        layers += [
            nn.Conv3d(channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm3d(out_channels, affine=True),
            nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True),
        ]
    return nn.Sequential(*layers)


class UNet3d(nn.Module):
    """Encoder of ``levels`` max-pool steps, a bottleneck, and a decoder with skip connections."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        widths = [config.base_channels * 2**level for level in range(config.levels + 1)]
        self.encoder = nn.ModuleList(
            _convolutions(config.in_channels if level == 0 else widths[level - 1], widths[level])
            for level in range(config.levels + 1)
        )
        self.upsamplers = nn.ModuleList(
            nn.ConvTranspose3d(widths[level + 1], widths[level], kernel_size=2, stride=2)
            for level in reversed(range(config.levels))
        )
        self.decoder = nn.ModuleList(
            _convolutions(2 * widths[level], widths[level]) for level in reversed(range(config.levels))
        )
        self.head = nn.Conv3d(widths[0], 1, kernel_size=1)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        """Lesion logits ``(batch, 1, z, y, x)`` for ``volume`` ``(batch, in_channels, z, y, x)``."""
        size = volume.shape[2:]
        multiple = 2**self.config.levels
        padding: list[int] = []
        for extent in reversed(size):
            padding += [0, -extent % multiple]
        features = functional.pad(volume, padding)
        skips = []
        for level, block in enumerate(self.encoder):
            if level > 0:
                features = functional.max_pool3d(features, kernel_size=2)
            features = block(features)
            skips.append(features)
        skips.pop()
        for upsample, block in zip(self.upsamplers, self.decoder, strict=True):
            features = block(torch.cat([upsample(features), skips.pop()], dim=1))
        logits: torch.Tensor = self.head(features)
        return logits[:, :, : size[0], : size[1], : size[2]]
