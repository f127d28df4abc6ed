"""The starter algorithm ``isles init-algorithm DIR`` writes: a Dockerfile, an inference script that reads
every input of the contract and writes the segmentation, and a script that runs it in the portal's sandbox.

The files are made from the contract table (``inference.interfaces``), so the starter reads exactly the
slugs the worker stages. The inference script needs Python 3 and NumPy only: it reads and writes the
uncompressed MetaImage files of the contract itself, so it builds on the portal's offline base as on a public
Python image. It is a working algorithm (Tmax > 6 s on the registered Tmax map) for participants to replace.
Standard library only, like the CLI.
"""

import shlex
from pathlib import Path
from typing import Final

from inference.interfaces import DEFAULT_SANDBOX, ISLES24, InterfaceKind, InterfaceSet, docker_run_command

__all__ = ["STARTER_FILES", "starter_write"]

STARTER_FILES: Final = ("Dockerfile", "inference.py", "test.sh", "README.md")

_DOCKERFILE = """\
# A starter algorithm for an ISLES'24 challenge on isles-portal, written by `isles init-algorithm`.
# Build on any image with Python 3 and NumPy, e.g. a public one (the default) or the portal's offline base:
#   docker build --build-arg BASE_IMAGE=python:3.11-slim -t my-algorithm .
ARG BASE_IMAGE=python:3.11-slim
FROM ${{BASE_IMAGE}}
# NumPy is in the portal's offline base; a public Python image gets it from PyPI.
RUN python3 -c "import numpy" 2>/dev/null || pip install --no-cache-dir numpy
WORKDIR /opt/algorithm
COPY inference.py /opt/algorithm/inference.py
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# The portal runs containers as the image's user, which must not be root.
USER 1000:1000
ENTRYPOINT ["python3", "/opt/algorithm/inference.py"]
"""

_INFERENCE = '''\
"""A starter ISLES'24 algorithm written by `isles init-algorithm`: it reads every input the portal stages
and writes one binary segmentation. Replace `predict` with your model.

Inputs: /input/images/<slug>/<name>.mha for each slug of IMAGE_SLUGS, {clinical_path}.
Output: {output_path}, on the grid of the non-contrast CT.
"""

import json
import sys
from pathlib import Path

import numpy as np

IMAGE_SLUGS = (
{slugs}
)
CLINICAL_INFORMATION = Path("{clinical_path}")
OUTPUT = Path("{output_path}")
TMAX_THRESHOLD_S = 6.0
GEOMETRY = ("TransformMatrix", "Offset", "ElementSpacing")
METAIMAGE_TYPES = {{
    "MET_CHAR": "i1",
    "MET_UCHAR": "u1",
    "MET_SHORT": "i2",
    "MET_USHORT": "u2",
    "MET_INT": "i4",
    "MET_UINT": "u4",
    "MET_LONG": "i4",
    "MET_ULONG": "u4",
    "MET_LONG_LONG": "i8",
    "MET_ULONG_LONG": "u8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}}


def metaimage_read(path):
    """The voxels (z, y, x[, t]) and header of an uncompressed MetaImage holding its own data."""
    content = path.read_bytes()
    header, offset = {{}}, 0
    while "ElementDataFile" not in header:
        end = content.index(b"\\n", offset)
        key, _, value = content[offset:end].decode("ascii").partition("=")
        header[key.strip()] = value.strip()
        offset = end + 1
    if header["ElementDataFile"] != "LOCAL" or header.get("CompressedData", "False") == "True":
        sys.exit(f"{{path}} is not an uncompressed MetaImage with its own data.")
    order = ">" if header.get("BinaryDataByteOrderMSB", header.get("ElementByteOrderMSB")) == "True" else "<"
    dtype = np.dtype(order + METAIMAGE_TYPES[header["ElementType"]])
    sizes = [int(size) for size in header["DimSize"].split()]
    voxels = np.frombuffer(content, dtype=dtype, count=int(np.prod(sizes)), offset=offset)
    return voxels.reshape(sizes[::-1]), header


def metaimage_write(path, mask, like):
    """Write a uint8 mask as a MetaImage with the geometry of the header ``like``."""
    lines = [
        "ObjectType = Image",
        "NDims = 3",
        "BinaryData = True",
        "BinaryDataByteOrderMSB = False",
        "CompressedData = False",
        *(f"{{key}} = {{like[key]}}" for key in GEOMETRY if key in like),
        "DimSize = " + " ".join(str(size) for size in mask.shape[::-1]),
        "ElementType = MET_UCHAR",
        "ElementDataFile = LOCAL",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\\n".join(lines) + "\\n").encode("ascii") + mask.astype(np.uint8).tobytes())


def image_path(slug):
    """The one file in an image input's folder; its name is not fixed."""
    files = sorted(Path("/input/images", slug).glob("*.mha"))
    if len(files) != 1:
        sys.exit(f"Expected one .mha file in /input/images/{{slug}}/, found {{len(files)}}.")
    return files[0]


def predict(images, clinical):
    """The lesion mask on the grid of the non-contrast CT: here Tmax > 6 s on the registered Tmax map."""
    tmax, _ = images["preprocessed-tmax-map"]
    return tmax > TMAX_THRESHOLD_S


def main():
    images = {{slug: metaimage_read(image_path(slug)) for slug in IMAGE_SLUGS}}
    clinical = json.loads(CLINICAL_INFORMATION.read_text())
    for slug, (voxels, _) in images.items():
        print(f"{{slug}}: {{'x'.join(str(size) for size in voxels.shape[::-1])}} {{voxels.dtype}}")
    print(f"clinical information: {{', '.join(sorted(clinical)) or 'none'}}")
    mask = predict(images, clinical)
    reference, header = images["non-contrast-ct"]
    if mask.shape != reference.shape:
        sys.exit(f"The mask is {{mask.shape}} but the non-contrast CT is {{reference.shape}} (z, y, x).")
    metaimage_write(OUTPUT, mask, header)
    print(f"{{int(mask.sum())}} lesion voxels written to {{OUTPUT}}")


if __name__ == "__main__":
    main()
'''

_TEST = """\
#!/bin/sh
# Build the algorithm and run it on one case in the portal's sandbox: the same flags its workers use (the
# default limits of a phase; a phase's own limits and line are on its algorithm contract page).
# Put a case under test/input as the portal stages it: test/input/images/<slug>/<name>.mha for each input
# and test/input/{clinical_name}.
# BASE_IMAGE=isles-base:bookworm ./test.sh builds on the portal's offline base.
set -eu
cd "$(dirname "$0")"
IMAGE="${{IMAGE:-my-algorithm}}"
# The portal's workers grant {cpus} CPUs, or all of a smaller machine's, as here.
CPUS="$(nproc)"
if [ "$CPUS" -gt {cpus} ]; then CPUS={cpus}; fi
docker build --build-arg BASE_IMAGE="${{BASE_IMAGE:-python:3.11-slim}}" -t "$IMAGE" .
rm -rf test/output
mkdir -p test/output
chmod 777 test/output
{docker_run}
ls -l test/output/images/{output_slug}/
"""

_README = """\
# My ISLES'24 algorithm

Written by `isles init-algorithm` from the portal's container contract ({interface_set}).

- `inference.py` reads every input ({count} images and the clinical JSON) and writes
  `{output_path}`. Replace `predict` with your model.
- `Dockerfile` takes `--build-arg BASE_IMAGE=...` (a public Python or PyTorch image, or the portal's
  offline base `isles-base:bookworm`). Add your dependencies and weights there.
- `./test.sh` builds the image and runs it on the case under `test/input` with the portal's sandbox flags:
  no network, read-only root, a small `/tmp`, memory, CPU and process limits, your image's non-root user.

Submit it with `docker save my-algorithm | gzip > image.tar.gz` and
`isles submit-algorithm PHASE_SLUG image.tar.gz`.
"""


def _shell_word(argument: str) -> str:
    """``argument`` for sh: in double quotes when it names a variable (``$PWD``), else quoted as needed."""
    return f'"{argument}"' if "$" in argument else shlex.quote(argument)


def starter_write(folder: Path, *, interface_set: InterfaceSet = ISLES24) -> list[Path]:
    """Write the starter's files into ``folder`` (created if needed) and return their paths.

    Refuses (``FileExistsError``) to overwrite a file already there, so a participant's work is never lost.
    """
    clinical = [interface for interface in interface_set.inputs if interface.kind is InterfaceKind.JSON]
    clinical_path = f"/input/{clinical[0].relative_path}" if clinical else "/input/inputs.json"
    output_path = f"/output/{interface_set.output.relative_path}/output.mha"
    cpus = int(DEFAULT_SANDBOX.cpus)
    run = docker_run_command(
        image="$IMAGE",
        limits=DEFAULT_SANDBOX,
        cpus=cpus,
        gpu=False,
        input_folder="$PWD/test/input",
        output_folder="$PWD/test/output",
    )
    contents = {
        "Dockerfile": _DOCKERFILE.format(),
        "inference.py": _INFERENCE.format(
            slugs="\n".join(f'    "{interface.slug}",' for interface in interface_set.image_inputs),
            clinical_path=clinical_path,
            output_path=output_path,
        ),
        "test.sh": _TEST.format(
            clinical_name=Path(clinical_path).name,
            docker_run=" ".join(_shell_word(argument) for argument in run).replace(
                f"--cpus {cpus} ", '--cpus "$CPUS" '
            ),
            cpus=cpus,
            output_slug=interface_set.output.slug,
        ),
        "README.md": _README.format(
            interface_set=interface_set.name,
            count=len(interface_set.image_inputs),
            output_path=output_path,
        ),
    }
    folder.mkdir(parents=True, exist_ok=True)
    existing = [name for name in contents if (folder / name).exists()]
    if existing:
        raise FileExistsError(f"{folder} already has {', '.join(existing)}; choose an empty folder.")
    written = []
    for name, text in contents.items():
        path = folder / name
        path.write_text(text)
        # Readable by the image's user whatever this process's umask: COPY keeps the mode it finds.
        path.chmod(0o755 if name == "test.sh" else 0o644)
        written.append(path)
    return written
