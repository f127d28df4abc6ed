"""An ensemble of U-Nets as DeepISLES combines its members: each votes a binary mask, the majority wins.

Each member predicts a whole case by sliding a window of the training patch size over it: windows overlap
(by half by default) and their probabilities are blended with a Gaussian weight that trusts a window's
centre more than its border, where the network saw less context. Test-time augmentation mirrors the input
along every subset of ``flip_axes`` and averages the probabilities mirrored back, which makes the
prediction exactly equivariant to those flips. A member's mask is its probability over ``threshold``; the
ensemble's mask is where more than half of the members agree (``evaluation.fusion.majority_vote``, the
rule the portal's ensembles of submissions use too).

``weights/manifest.json`` (written by ``python -m inference.train``) describes the ensemble: channel order,
normalisation, network shape, patch size, and each member's state dict file and training figures.
"""

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import torch
from evaluation.fusion import majority_vote

from inference.reference.unet.model import UNet3d, UNetConfig

__all__ = [
    "MANIFEST_NAME",
    "Ensemble",
    "EnsembleManifest",
    "MemberRecord",
    "ensemble_load",
    "ensemble_predict",
    "flip_averaged_probability",
    "sliding_window_probability",
]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]
SpatialAxis = Literal[0, 1, 2]
Shape3 = tuple[int, int, int]

MANIFEST_NAME: Final = "manifest.json"
MANIFEST_FORMAT: Final = 1
GAUSSIAN_SIGMA_FRACTION: Final = 1 / 8
WINDOWS_PER_BATCH: Final = 4


@dataclass(frozen=True)
class MemberRecord:
    """One trained member: its state dict file, seed, data split and training figures."""

    file: str
    seed: int
    training_cases: tuple[str, ...]
    validation_cases: tuple[str, ...]
    loss_per_epoch: tuple[float, ...]
    validation_dice: float | None
    training_seconds: float


@dataclass(frozen=True)
class EnsembleManifest:
    """What ``predict`` needs to rebuild the ensemble and what ``train`` measured, as ``manifest.json``."""

    channels: tuple[str, ...]
    normalisation: str
    clip_percentiles: tuple[float, float]
    model: UNetConfig
    patch_size_zyx: Shape3
    flip_axes: tuple[SpatialAxis, ...]
    threshold: float
    device: str
    epochs: int
    members: tuple[MemberRecord, ...] = field(default=())

    def write(self, folder: Path) -> Path:
        path = folder / MANIFEST_NAME
        document = {"format": MANIFEST_FORMAT, **asdict(self)}
        path.write_text(json.dumps(document, indent=2) + "\n")
        return path

    @classmethod
    def read(cls, folder: Path) -> "EnsembleManifest":
        document = json.loads((folder / MANIFEST_NAME).read_text())
        if document.pop("format") != MANIFEST_FORMAT:
            raise ValueError(f"{folder / MANIFEST_NAME} is not a manifest of format {MANIFEST_FORMAT}.")
        members = tuple(
            MemberRecord(
                **{
                    **member,
                    "training_cases": tuple(member["training_cases"]),
                    "validation_cases": tuple(member["validation_cases"]),
                    "loss_per_epoch": tuple(member["loss_per_epoch"]),
                }
            )
            for member in document.pop("members")
        )
        return cls(
            **{
                **document,
                "channels": tuple(document["channels"]),
                "clip_percentiles": tuple(document["clip_percentiles"]),
                "model": UNetConfig(**document["model"]),
                "patch_size_zyx": tuple(document["patch_size_zyx"]),
                "flip_axes": tuple(document["flip_axes"]),
                "members": members,
            }
        )


@dataclass(frozen=True)
class Ensemble:
    """Members in evaluation mode on one device, and how to run them."""

    members: tuple[UNet3d, ...]
    patch_size_zyx: Shape3
    flip_axes: tuple[SpatialAxis, ...] = (0, 1, 2)
    overlap: float = 0.5
    threshold: float = 0.5


def flip_averaged_probability(
    model: torch.nn.Module, batch: torch.Tensor, *, flip_axes: Sequence[SpatialAxis]
) -> torch.Tensor:
    """Lesion probability ``(batch, z, y, x)``, averaged over every mirror of ``flip_axes`` (2^k passes)."""
    total = torch.zeros((batch.shape[0], *batch.shape[2:]), device=batch.device)
    mirrors = [
        subset for size in range(len(flip_axes) + 1) for subset in itertools.combinations(flip_axes, size)
    ]
    for subset in mirrors:
        dims = [axis + 2 for axis in subset]
        flipped = torch.flip(batch, dims) if dims else batch
        probability = torch.sigmoid(model(flipped))
        total += (torch.flip(probability, dims) if dims else probability)[:, 0]
    return total / len(mirrors)


def _gaussian_weight(patch_size: Shape3, device: torch.device) -> torch.Tensor:
    axes = []
    for extent in patch_size:
        offsets = torch.arange(extent, dtype=torch.float32, device=device) - (extent - 1) / 2
        sigma = max(extent * GAUSSIAN_SIGMA_FRACTION, 1e-3)
        axes.append(torch.exp(-0.5 * (offsets / sigma) ** 2))
    weight = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    weight = weight / weight.max()
    # Corners of a window get a tiny but non-zero weight, so a voxel covered only there is still defined.
    return torch.clamp(weight, min=1e-3)


def _window_starts(extent: int, patch: int, overlap: float) -> list[int]:
    if extent <= patch:
        return [0]
    step = max(1, int(patch * (1 - overlap)))
    count = -(-(extent - patch) // step) + 1
    return sorted({round(index * (extent - patch) / (count - 1)) for index in range(count)})


@torch.no_grad()
def sliding_window_probability(
    model: torch.nn.Module,
    volume: torch.Tensor,
    *,
    patch_size_zyx: Shape3,
    overlap: float = 0.5,
    flip_axes: Sequence[SpatialAxis] = (),
) -> torch.Tensor:
    """Lesion probability ``(z, y, x)`` of ``volume`` ``(channels, z, y, x)``, window by window.

    A volume smaller than the patch along an axis is padded with zeros (the normalised mean) and the
    padding cropped from the result. Windows are blended with a Gaussian weight (sigma 1/8 of the patch).
    """
    size = tuple(volume.shape[1:])
    padding: list[int] = []
    for extent, patch in zip(reversed(size), reversed(patch_size_zyx), strict=True):
        padding += [0, max(0, patch - extent)]
    padded = torch.nn.functional.pad(volume, padding)
    weight = _gaussian_weight(patch_size_zyx, volume.device)
    blended = torch.zeros(padded.shape[1:], device=volume.device)
    weights = torch.zeros(padded.shape[1:], device=volume.device)
    corners = list(
        itertools.product(
            *(
                _window_starts(extent, patch, overlap)
                for extent, patch in zip(padded.shape[1:], patch_size_zyx, strict=True)
            )
        )
    )
    for first in range(0, len(corners), WINDOWS_PER_BATCH):
        chunk = corners[first : first + WINDOWS_PER_BATCH]
        regions = [
            tuple(slice(start, start + patch) for start, patch in zip(corner, patch_size_zyx, strict=True))
            for corner in chunk
        ]
        batch = torch.stack([padded[(slice(None), *region)] for region in regions])
        probabilities = flip_averaged_probability(model, batch, flip_axes=flip_axes)
        for region, probability in zip(regions, probabilities, strict=True):
            blended[region] += probability * weight
            weights[region] += weight
    return (blended / weights)[: size[0], : size[1], : size[2]]


def ensemble_predict(*, ensemble: Ensemble, volume: FloatArray) -> BoolArray:
    """The ensemble's binary lesion mask ``(z, y, x)`` for a normalised ``volume`` ``(channels, z, y, x)``."""
    device = next(ensemble.members[0].parameters()).device
    tensor = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32)).to(device)
    member_masks = [
        (
            sliding_window_probability(
                member,
                tensor,
                patch_size_zyx=ensemble.patch_size_zyx,
                overlap=ensemble.overlap,
                flip_axes=ensemble.flip_axes,
            )
            > ensemble.threshold
        )
        .cpu()
        .numpy()
        for member in ensemble.members
    ]
    return majority_vote(member_masks)


def ensemble_load(
    *, weights_dir: Path, device: str = "cpu", flip_axes: Sequence[SpatialAxis] | None = None
) -> tuple[Ensemble, EnsembleManifest]:
    """Rebuild the trained ensemble described by ``weights_dir/manifest.json`` on ``device``.

    ``flip_axes`` overrides the manifest's mirrors (an empty tuple turns test-time augmentation off).
    """
    manifest = EnsembleManifest.read(weights_dir)
    members = []
    for record in manifest.members:
        member = UNet3d(manifest.model)
        state = torch.load(weights_dir / record.file, map_location=device, weights_only=True)
        member.load_state_dict(state)
        members.append(member.to(device).eval())
    ensemble = Ensemble(
        members=tuple(members),
        patch_size_zyx=manifest.patch_size_zyx,
        flip_axes=manifest.flip_axes if flip_axes is None else tuple(flip_axes),
        threshold=manifest.threshold,
    )
    return ensemble, manifest
