#!/bin/sh
# Build the offline base images of the reference algorithms without a registry:
#   docker/base/build-base-image.sh [TAG]          -> isles-base:bookworm
#   docker/base/build-base-image.sh --torch [TAG]  -> isles-base-torch:bookworm
# isles-base: debootstrap a minimal Debian bookworm with Python 3, NumPy and pip from Debian's mirror, then
# `docker import`. Debian has no SimpleITK package, so the reference algorithms read and write MHA and NIfTI
# with NumPy. `python` is python3 (python-is-python3) and pip installs into the image, so a Dockerfile
# written for a public Python or PyTorch image (`RUN python -m pip install --user -r requirements.txt`,
# `ENTRYPOINT ["python", ...]`, as the official ISLES'24 template) builds on it with only its base changed.
# Debian marks its Python as externally managed (PEP 668, /usr/lib/python3.11/EXTERNALLY-MANAGED), so its
# pip refuses every install outside a venv, `--user` ones included, with "externally-managed-environment".
# The image's environment sets PIP_BREAK_SYSTEM_PACKAGES=1 to lift that: the marker guards a system that
# apt keeps up to date, and nothing runs apt in an algorithm's image; Debian's pip still installs into
# /usr/local/lib/python3.11/dist-packages (as root) or ~/.local (--user), shadowing Debian's modules
# without overwriting them. A venv on the PATH would do the same but would hide Debian's NumPy (and the
# torch base's torch) from `python` unless made with --system-site-packages.
# isles-base-torch: isles-base (built first when the engine lacks it) plus one layer: torch for the CPU and
# CPython 3.11 from the wheel at TORCH_WHEEL, and typing_extensions from TYPING_EXTENSIONS_WHEEL or else
# `pip download` (torch imports names that bookworm's 4.4 lacks). A wheel is a zip: both are unpacked here,
# with their .dist-info (so pip in the image sees them installed), rather than installed with pip in a
# build step, so torch is trimmed before it enters a layer (a later step's removals would not shrink the
# image); neither wheel has scripts or data files to install. Nothing else is needed to import torch and run
# a network eagerly: sympy, networkx, jinja2, filelock and fsspec serve torch.compile, tracing and the hub,
# which import them when used (an algorithm's Dockerfile may pip install them). Tests, headers, programs
# other than the shared-memory manager, CMake files and symbol tables are dropped; the bytecode is compiled
# in the image, since a read-only root would make every run recompile torch. The image is built with no
# network.
# Run as root; needs debootstrap, a Docker engine, python3 and strip (binutils).
set -eu
# What lands in the image must be readable by the algorithm's own user (uid 1000 or any other): a caller
# with the portal's owner-only umask (077, a test run) would unpack torch unreadable, and Python would
# then take its folder for an empty namespace package ("cannot import name 'nn' from 'torch'").
umask 022

TORCH=0
if [ "${1:-}" = "--torch" ]; then
    TORCH=1
    shift
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(mktemp -d /tmp/isles-base.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

if [ "$TORCH" = 0 ]; then
    TAG="${1:-isles-base:bookworm}"
    MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
    debootstrap --variant=minbase --include=python3-minimal,python3-numpy,python3-pip,python-is-python3 \
        bookworm "$WORK" "$MIRROR"
    # Nothing in the image needs the package manager's caches or documentation.
    rm -rf "$WORK"/var/cache/apt/archives/*.deb "$WORK"/var/lib/apt/lists/* "$WORK"/usr/share/doc "$WORK"/usr/share/man
    tar -C "$WORK" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' \
        --change 'CMD ["python"]' \
        - "$TAG"
    echo "built $TAG"
    exit 0
fi

TAG="${1:-isles-base-torch:bookworm}"
BASE_IMAGE="${BASE_IMAGE:-isles-base:bookworm}"
TORCH_WHEEL="${TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}"
[ -f "$TORCH_WHEEL" ] || {
    echo "There is no torch wheel at $TORCH_WHEEL; set TORCH_WHEEL to a CPU build of torch for CPython 3.11" \
        "on x86_64, such as torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl." >&2
    exit 1
}
if [ -z "${TYPING_EXTENSIONS_WHEEL:-}" ]; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$WORK/wheels" \
        'typing_extensions>=4.10' || {
        echo "pip could not download typing_extensions; set TYPING_EXTENSIONS_WHEEL to a wheel of 4.10 or" \
            "newer." >&2
        exit 1
    }
    TYPING_EXTENSIONS_WHEEL="$(ls "$WORK"/wheels/typing_extensions-*.whl)"
fi
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    "$0" "$BASE_IMAGE"
fi

SITE="$WORK/context/site-packages"
for wheel in "$TORCH_WHEEL" "$TYPING_EXTENSIONS_WHEEL"; do
    python3 -m zipfile -e "$wheel" "$SITE"
done
# torch needs only this one of its programs (it looks for it at import, to share tensors between
# processes); a zip keeps no file modes, so it is made executable again.
find "$SITE"/torch/bin -mindepth 1 -maxdepth 1 ! -name torch_shm_manager -exec rm -rf {} +
chmod 755 "$SITE"/torch/bin/torch_shm_manager
rm -rf "$SITE"/torch/include "$SITE"/torch/test "$SITE"/torch/share \
    "$SITE"/torch/lib/libjitbackend_test.so "$SITE"/torch/lib/libtorchbind_test.so \
    "$SITE"/torch/lib/libbackend_with_compiler.so "$SITE"/torch/lib/libaoti_custom_ops.so
find "$SITE" -name '*.so*' -type f -exec strip --strip-unneeded {} +
cp "$HERE/torch/Dockerfile" "$WORK/context/Dockerfile"
tar -C "$WORK/context" -c . | docker build --quiet --force-rm --network none \
    --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$TAG" - >/dev/null
echo "built $TAG ($(docker image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1 / 1e6}'))"
