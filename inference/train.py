"""Train the ``unet-ensemble`` reference algorithm on an ISLES'24 release: one U-Net per member.

    python -m inference.train --dataset RELEASE --out weights/ [--members 3] [--epochs 10]
        [--patch 32,32,16] [--device cpu|cuda]

``--dataset`` is a folder in the ISLES'24 release layout (as published, or as the portal exports it):
each case's channels (``predict.CHANNELS``) and its follow-up lesion mask are found by their release file
names; cases without a mask (a hidden test set) are left out. Each member gets its own seed and its own
hold-out split, and learns from random patches (a third centred on a lesion voxel, so small lesions are
seen) with random flips, minimising soft Dice plus binary cross-entropy. ``--out`` receives one state dict
per member and ``manifest.json``: channel order, normalisation, network shape, patch size, and for each
member its split, loss per epoch, validation Dice and training time.
"""

import argparse
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch
from torch.nn import functional

from inference.reference.threshold import image_read
from inference.reference.unet.ensemble import (
    EnsembleManifest,
    MemberRecord,
    Shape3,
    sliding_window_probability,
)
from inference.reference.unet.model import UNet3d, UNetConfig
from inference.reference.unet.predict import CHANNELS, CLIP_PERCENTILES, NORMALISATION, channels_normalise

__all__ = ["TrainedMember", "TrainingCase", "ensemble_train", "main", "member_train", "training_cases_read"]

SUBJECT_PATTERN: Final = re.compile(r"^sub-stroke\d{4}$")
MASK_SUFFIX: Final = "lesion-msk.nii.gz"
LESION_FRACTION: Final = 1 / 3
VALIDATION_FRACTION: Final = 0.2
FLIP_AXES: Final = (0, 1, 2)
SMOOTHING: Final = 1.0


@dataclass(frozen=True)
class TrainingCase:
    """One case in memory: normalised channels ``(channels, z, y, x)`` and the lesion mask ``(z, y, x)``."""

    name: str
    volume: npt.NDArray[np.float32]
    lesion: npt.NDArray[np.bool_]

    @cached_property
    def lesion_voxels(self) -> npt.NDArray[np.int64]:
        return np.argwhere(self.lesion)


@dataclass(frozen=True)
class TrainedMember:
    """A trained network and what its training measured."""

    model: UNet3d
    loss_per_step: tuple[float, ...]
    loss_per_epoch: tuple[float, ...]
    validation_dice: float | None
    training_seconds: float


def _release_file(dataset: Path, case: str, suffix: str) -> Path | None:
    found = sorted(
        path
        for folder in ("raw_data", "derivatives")
        for path in (dataset / folder / case).rglob(f"*{suffix}")
    )
    if len(found) > 1:
        raise ValueError(f"{case} has {len(found)} files ending in {suffix}; expected one.")
    return found[0] if found else None


def training_cases_read(*, dataset: Path, patch_size_zyx: Shape3) -> list[TrainingCase]:
    """Every case of the release at ``dataset`` that has a lesion mask, normalised, padded to the patch."""
    subjects = sorted(
        folder.name for folder in (dataset / "derivatives").glob("*") if SUBJECT_PATTERN.match(folder.name)
    )
    cases = []
    for case in subjects:
        mask_path = _release_file(dataset, case, MASK_SUFFIX)
        if mask_path is None:
            continue
        lesion = image_read(mask_path)[0] > 0
        images = {}
        for channel in CHANNELS:
            path = _release_file(dataset, case, channel.release_suffix)
            if path is not None:
                images[channel.slug] = image_read(path)[0]
        volume = channels_normalise(
            images, channels=[channel.slug for channel in CHANNELS], shape=lesion.shape
        )
        padding = [
            (0, max(0, patch - extent)) for extent, patch in zip(lesion.shape, patch_size_zyx, strict=True)
        ]
        cases.append(
            TrainingCase(
                name=case,
                volume=np.pad(volume, [(0, 0), *padding]),
                lesion=np.pad(lesion, padding),
            )
        )
    if not cases:
        raise SystemExit(f"{dataset} holds no case with a lesion mask in the ISLES'24 release layout.")
    return cases


def _patch_corner(case: TrainingCase, patch_size_zyx: Shape3, rng: np.random.Generator) -> list[int]:
    lesion_voxels = case.lesion_voxels
    limits = [extent - patch for extent, patch in zip(case.lesion.shape, patch_size_zyx, strict=True)]
    if lesion_voxels.size > 0 and rng.random() < LESION_FRACTION:
        centre = lesion_voxels[rng.integers(len(lesion_voxels))]
        return [
            int(np.clip(c - patch // 2, 0, limit))
            for c, patch, limit in zip(centre, patch_size_zyx, limits, strict=True)
        ]
    return [int(rng.integers(limit + 1)) for limit in limits]


def _batch_sample(
    cases: Sequence[TrainingCase], *, patch_size_zyx: Shape3, batch_size: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    volumes, lesions = [], []
    for _ in range(batch_size):
        case = cases[int(rng.integers(len(cases)))]
        corner = _patch_corner(case, patch_size_zyx, rng)
        region = tuple(
            slice(start, start + patch) for start, patch in zip(corner, patch_size_zyx, strict=True)
        )
        volume, lesion = case.volume[(slice(None), *region)], case.lesion[region]
        for axis in FLIP_AXES:
            if rng.random() < 0.5:
                volume, lesion = np.flip(volume, axis + 1), np.flip(lesion, axis)
        volumes.append(np.ascontiguousarray(volume))
        lesions.append(np.ascontiguousarray(lesion[None], dtype=np.float32))
    return torch.from_numpy(np.stack(volumes)), torch.from_numpy(np.stack(lesions))


def _loss(logits: torch.Tensor, lesion: torch.Tensor) -> torch.Tensor:
    """Soft Dice over the batch plus binary cross-entropy, as nnU-Net trains (Dice alone is unstable)."""
    probability = torch.sigmoid(logits)
    overlap = (probability * lesion).sum()
    dice = (2 * overlap + SMOOTHING) / (probability.sum() + lesion.sum() + SMOOTHING)
    return 1 - dice + functional.binary_cross_entropy_with_logits(logits, lesion)


def _validation_dice(model: UNet3d, cases: Sequence[TrainingCase], patch_size_zyx: Shape3) -> float | None:
    if not cases:
        return None
    model.eval()
    device = next(model.parameters()).device
    overlap = total = 0
    for case in cases:
        probability = sliding_window_probability(
            model, torch.from_numpy(case.volume).to(device), patch_size_zyx=patch_size_zyx
        )
        prediction = (probability > 0.5).cpu().numpy()
        overlap += int((prediction & case.lesion).sum())
        total += int(prediction.sum() + case.lesion.sum())
    return 1.0 if total == 0 else 2 * overlap / total


def member_train(
    *,
    training: Sequence[TrainingCase],
    validation: Sequence[TrainingCase],
    config: UNetConfig,
    patch_size_zyx: Shape3,
    epochs: int,
    steps_per_epoch: int,
    batch_size: int,
    seed: int,
    device: str,
    learning_rate: float = 3e-3,
) -> TrainedMember:
    """Train one U-Net from seed ``seed`` on patches of ``training``; score it on ``validation``."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = UNet3d(config).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.PolynomialLR(
        optimiser, total_iters=epochs * steps_per_epoch, power=0.9
    )
    losses: list[float] = []
    model.train()
    for _ in range(epochs * steps_per_epoch):
        volume, lesion = _batch_sample(
            training, patch_size_zyx=patch_size_zyx, batch_size=batch_size, rng=rng
        )
        loss = _loss(model(volume.to(device)), lesion.to(device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
    per_epoch = tuple(
        float(np.mean(losses[epoch * steps_per_epoch : (epoch + 1) * steps_per_epoch]))
        for epoch in range(epochs)
    )
    return TrainedMember(
        model=model.eval(),
        loss_per_step=tuple(losses),
        loss_per_epoch=per_epoch,
        validation_dice=_validation_dice(model, validation, patch_size_zyx),
        training_seconds=time.perf_counter() - started,
    )


def _split(names: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    """A member's own hold-out: a fifth of the cases, none when fewer than three (all are needed)."""
    shuffled = [names[index] for index in np.random.default_rng(seed).permutation(len(names))]
    held_out = max(1, round(VALIDATION_FRACTION * len(names))) if len(names) >= 3 else 0
    return shuffled[held_out:], shuffled[:held_out]


def ensemble_train(
    *,
    dataset: Path,
    out: Path,
    members: int = 3,
    epochs: int = 10,
    steps_per_epoch: int = 50,
    batch_size: int = 2,
    patch_size_zyx: Shape3 = (16, 32, 32),
    config: UNetConfig | None = None,
    device: str = "cpu",
    seed: int = 0,
) -> EnsembleManifest:
    """Train ``members`` U-Nets on the release at ``dataset``; write their weights and manifest to ``out``."""
    config = config or UNetConfig(in_channels=len(CHANNELS))
    if any(extent % 2**config.levels for extent in patch_size_zyx):
        raise SystemExit(
            f"The patch {patch_size_zyx} must be a multiple of 2^{config.levels} along every axis."
        )
    cases = training_cases_read(dataset=dataset, patch_size_zyx=patch_size_zyx)
    by_name = {case.name: case for case in cases}
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for index in range(members):
        member_seed = seed + index
        training_names, validation_names = _split(list(by_name), member_seed)
        trained = member_train(
            training=[by_name[name] for name in training_names],
            validation=[by_name[name] for name in validation_names],
            config=config,
            patch_size_zyx=patch_size_zyx,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            batch_size=batch_size,
            seed=member_seed,
            device=device,
        )
        file_name = f"member-{index}.pt"
        torch.save(trained.model.state_dict(), out / file_name)
        records.append(
            MemberRecord(
                file=file_name,
                seed=member_seed,
                training_cases=tuple(training_names),
                validation_cases=tuple(validation_names),
                loss_per_epoch=trained.loss_per_epoch,
                validation_dice=trained.validation_dice,
                training_seconds=round(trained.training_seconds, 2),
            )
        )
    manifest = EnsembleManifest(
        channels=tuple(channel.slug for channel in CHANNELS),
        normalisation=NORMALISATION,
        clip_percentiles=CLIP_PERCENTILES,
        model=config,
        patch_size_zyx=patch_size_zyx,
        flip_axes=FLIP_AXES,
        threshold=0.5,
        device=device,
        epochs=epochs,
        members=tuple(records),
    )
    manifest.write(out)
    return manifest


def _patch_xyz(text: str) -> Shape3:
    values = [int(value) for value in text.split(",")]
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not three positive sizes x,y,z such as 32,32,16")
    x, y, z = values
    return z, y, x


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference.train", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="a folder in the ISLES'24 release layout")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for the members' weights and manifest"
    )
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--patch", type=_patch_xyz, default=(16, 32, 32), help="x,y,z in voxels (32,32,16)")
    parser.add_argument("--base-channels", type=int, default=8)
    parser.add_argument("--levels", type=int, default=2)
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    manifest = ensemble_train(
        dataset=arguments.dataset,
        out=arguments.out,
        members=arguments.members,
        epochs=arguments.epochs,
        steps_per_epoch=arguments.steps_per_epoch,
        batch_size=arguments.batch_size,
        patch_size_zyx=arguments.patch,
        config=UNetConfig(
            in_channels=len(CHANNELS), base_channels=arguments.base_channels, levels=arguments.levels
        ),
        device=arguments.device,
        seed=arguments.seed,
    )
    for record in manifest.members:
        dice = "n/a" if record.validation_dice is None else f"{record.validation_dice:.3f}"
        print(
            f"{record.file}: loss {record.loss_per_epoch[0]:.3f} -> {record.loss_per_epoch[-1]:.3f},"
            f" validation Dice {dice} on {len(record.validation_cases)} cases,"
            f" {record.training_seconds:.1f} s"
        )
    print(f"wrote {len(manifest.members)} members and manifest.json to {arguments.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
