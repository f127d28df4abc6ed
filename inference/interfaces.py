"""The container contract as data: which inputs a phase's containers read, where, and the sandbox they run
in, as a ``docker run`` command line.

This is the one table the worker stages cases with (``inference.contract``), the portal's contract page is
made from, the release importer names images by (``releases.isles24``) and ``isles init-algorithm`` writes
starters from. It uses the standard library only, so the participant CLI can import it anywhere.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

__all__ = [
    "DEFAULT_SANDBOX",
    "INTERFACE_SETS",
    "ISLES22",
    "ISLES24",
    "SEGMENTATION",
    "Interface",
    "InterfaceKind",
    "InterfaceSet",
    "SandboxLimits",
    "docker_run_command",
]

ImageFormat = Literal["mha", "nii.gz"]


class InterfaceKind(StrEnum):
    IMAGE = "Image"
    JSON = "Anything"


@dataclass(frozen=True)
class Interface:
    """One input or output of an algorithm: its slug, its kind, for images the file format it gets, what
    it holds (for people), and whether every case must have it: a case lacking a required input cannot
    run, and the portal says so before any job fails (a JSON input is always staged, ``{}`` at worst)."""

    slug: str
    kind: InterfaceKind
    image_format: ImageFormat = "mha"
    title: str = ""
    required: bool = True

    @property
    def relative_path(self) -> str:
        """Where it lives under ``/input`` or ``/output``: a folder for an image, a file for JSON."""
        return f"images/{self.slug}" if self.kind is InterfaceKind.IMAGE else f"{self.slug}.json"


@dataclass(frozen=True)
class InterfaceSet:
    """The inputs a phase's containers read and the segmentation they write."""

    name: str
    inputs: tuple[Interface, ...]
    output: Interface

    @property
    def image_inputs(self) -> tuple[Interface, ...]:
        return tuple(interface for interface in self.inputs if interface.kind is InterfaceKind.IMAGE)

    @property
    def required_images(self) -> tuple[Interface, ...]:
        """The image inputs every case must have: the files a case is checked for before it runs."""
        return tuple(interface for interface in self.image_inputs if interface.required)

    def input_named(self, slug: str) -> Interface:
        for interface in self.inputs:
            if interface.slug == slug:
                return interface
        known = ", ".join(interface.slug for interface in self.inputs)
        raise ValueError(f"{self.name} has no input {slug!r}; its inputs are {known}.")


def _image(slug: str, title: str) -> Interface:
    return Interface(slug=slug, kind=InterfaceKind.IMAGE, title=title)


SEGMENTATION: Final = Interface(
    slug="stroke-lesion-segmentation", kind=InterfaceKind.IMAGE, title="Binary lesion mask (0 or 1)"
)
# The official ISLES'24 algorithm template's thirteen images, in its order, and the clinical data known at
# admission. The release importer stores each image under these slugs (``releases.isles24.LAYOUT``).
ISLES24: Final = InterfaceSet(
    name="isles24",
    inputs=(
        _image("non-contrast-ct", "Non-contrast CT (NCCT), the reference grid"),
        _image("ct-angiography", "CT angiography (CTA)"),
        _image("perfusion-ct", "4D CT perfusion (CTP)"),
        _image("tmax-parameter-map", "Tmax map of the CTP, in seconds"),
        _image("cbf-parameter-map", "Cerebral blood flow (CBF) map"),
        _image("cbv-parameter-map", "Cerebral blood volume (CBV) map"),
        _image("mtt-parameter-map", "Mean transit time (MTT) map"),
        _image("preprocessed-CT-angiography", "CTA registered to the NCCT"),
        _image("preprocessed-perfusion-ct", "CTP registered to the NCCT"),
        _image("preprocessed-tmax-map", "Tmax map registered to the NCCT"),
        _image("preprocessed-cbf-map", "CBF map registered to the NCCT"),
        _image("preprocessed-cbv-map", "CBV map registered to the NCCT"),
        _image("preprocessed-mtt-map", "MTT map registered to the NCCT"),
        Interface(
            slug="acute-stroke-clinical-information",
            kind=InterfaceKind.JSON,
            title="Clinical data known at admission, one object of column to value",
        ),
    ),
    output=SEGMENTATION,
)
ISLES22: Final = InterfaceSet(
    name="isles22",
    inputs=(
        _image("dwi-brain-mri", "Diffusion-weighted MRI (DWI)"),
        _image("adc-brain-mri", "Apparent diffusion coefficient map (ADC)"),
        _image("flair-brain-mri", "FLAIR MRI"),
    ),
    output=SEGMENTATION,
)
INTERFACE_SETS: Final[Mapping[str, InterfaceSet]] = {ISLES24.name: ISLES24, ISLES22.name: ISLES22}


@dataclass(frozen=True)
class SandboxLimits:
    """The resources one run may use; a phase sets them."""

    memory_bytes: int
    cpus: float
    pids: int
    time_limit_s: float
    tmpfs_bytes: int
    output_max_bytes: int


DEFAULT_SANDBOX: Final = SandboxLimits(
    memory_bytes=8 * 10**9,
    cpus=4.0,
    pids=256,
    time_limit_s=600.0,
    tmpfs_bytes=512 * 10**6,
    output_max_bytes=512 * 10**6,
)
"""A phase's sandbox until its organizers change it (``AlgorithmSettings``' defaults; a test holds them
equal)."""


def docker_run_command(
    *, image: str, limits: SandboxLimits, cpus: float, gpu: bool, input_folder: str, output_folder: str
) -> list[str]:
    """The ``docker run`` command that gives ``image`` the sandbox ``inference.sandbox.container_run``
    gives it, for a participant to reproduce a job locally: the same flags, ``cpus`` being what the worker
    grants (the phase's CPUs, at most its machine's). The time limit and output cap are watched by the
    worker, not flags: a local run is not stopped by them. Keep the two in step when either changes."""
    return [
        "docker",
        "run",
        "--rm",
        "--network",
        "none",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--read-only",
        "--tmpfs",
        f"/tmp:rw,nosuid,nodev,size={limits.tmpfs_bytes}",
        "--pids-limit",
        str(limits.pids),
        "--memory",
        str(limits.memory_bytes),
        "--memory-swap",
        str(limits.memory_bytes),
        "--cpus",
        f"{cpus:g}",
        *(["--gpus", "device=0"] if gpu else []),
        "--volume",
        f"{input_folder}:/input:ro",
        "--volume",
        f"{output_folder}:/output:rw",
        image,
    ]
