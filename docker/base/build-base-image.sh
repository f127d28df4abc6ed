#!/bin/sh
# Build the offline base image of the reference algorithms, isles-base:bookworm, without a registry:
# debootstrap a minimal Debian bookworm with Python 3 and NumPy from Debian's mirror, then `docker import`.
# Debian has no SimpleITK package, so the reference algorithms read and write MHA and NIfTI with NumPy.
# Usage: docker/base/build-base-image.sh [TAG] (run as root; needs debootstrap and a Docker engine).
set -eu

TAG="${1:-isles-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ROOT="$(mktemp -d /tmp/isles-base.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT

debootstrap --variant=minbase --include=python3-minimal,python3-numpy bookworm "$ROOT" "$MIRROR"
# Nothing in the image needs the package manager's caches or documentation.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc "$ROOT"/usr/share/man
tar -C "$ROOT" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$TAG"
echo "built $TAG"
