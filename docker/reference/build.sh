#!/bin/sh
# Build a reference algorithm's image offline, from the repository root as build context:
#   docker/reference/build.sh threshold                  -> isles-reference/threshold
#   docker/reference/build.sh unet-ensemble WEIGHTS_DIR  -> isles-reference/unet-ensemble (BASE_IMAGE with torch)
# BASE_IMAGE (default isles-base:bookworm) is built first with docker/base/build-base-image.sh when the
# engine lacks it and it is that default. Only the files the algorithm's Dockerfile.dockerignore admits are
# sent, as a tar, so the build needs neither BuildKit nor a registry. `make demo` runs this for threshold.
set -eu

NAME="${1:?usage: docker/reference/build.sh threshold | unet-ensemble WEIGHTS_DIR}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DOCKERFILE="docker/reference/$NAME/Dockerfile"
BASE_IMAGE="${BASE_IMAGE:-isles-base:bookworm}"
TAG="${TAG:-isles-reference/$NAME}"
[ -f "$ROOT/$DOCKERFILE" ] || { echo "There is no reference algorithm '$NAME' (see docker/reference/)." >&2; exit 2; }

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    if [ "$BASE_IMAGE" != "isles-base:bookworm" ]; then
        echo "The Docker engine has no image $BASE_IMAGE; build or load it first." >&2
        exit 1
    fi
    echo "Building the offline base image $BASE_IMAGE (debootstrap, about a minute)."
    "$ROOT/docker/base/build-base-image.sh" "$BASE_IMAGE"
fi

cd "$ROOT"
case "$NAME" in
    threshold)
        set -- inference/__init__.py inference/reference/__init__.py inference/reference/threshold.py
        build_args=""
        ;;
    unet-ensemble)
        WEIGHTS_DIR="${2:?give the weights folder written by python -m inference.train}"
        set -- inference/__init__.py inference/reference/__init__.py inference/reference/threshold.py \
            inference/reference/unet/*.py "$WEIGHTS_DIR"
        build_args="--build-arg WEIGHTS_DIR=$WEIGHTS_DIR"
        ;;
    *)
        echo "There is no build recipe for '$NAME' in $0." >&2
        exit 2
        ;;
esac
# shellcheck disable=SC2086 # build_args is empty or one flag with its value
tar -c "$DOCKERFILE" "$@" | docker build --quiet -f "$DOCKERFILE" --build-arg BASE_IMAGE="$BASE_IMAGE" \
    $build_args -t "$TAG" - >/dev/null
echo "built $TAG"
