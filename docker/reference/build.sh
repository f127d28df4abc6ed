#!/bin/sh
# Build a reference algorithm's image offline, from the repository root as build context:
#   docker/reference/build.sh threshold                  -> isles-reference/threshold on isles-base:bookworm
#   docker/reference/build.sh unet-ensemble WEIGHTS_DIR  -> isles-reference/unet-ensemble on
#                                                           isles-base-torch:bookworm, WEIGHTS_DIR baked in
# BASE_IMAGE (default: the one named above) is built first with docker/base/build-base-image.sh when the
# engine lacks it and it is that default (about a minute for each base). Only the files the algorithm needs
# are sent, as a tar, so the build needs neither BuildKit nor a registry. `make demo` runs this for
# threshold. WEIGHTS_DIR is the folder written by `python -m inference.train`, anywhere on disk.
set -eu

NAME="${1:?usage: docker/reference/build.sh threshold | unet-ensemble WEIGHTS_DIR}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DOCKERFILE="docker/reference/$NAME/Dockerfile"
TAG="${TAG:-isles-reference/$NAME}"
[ -f "$ROOT/$DOCKERFILE" ] || { echo "There is no reference algorithm '$NAME' (see docker/reference/)." >&2; exit 2; }

case "$NAME" in
    threshold)
        DEFAULT_BASE="isles-base:bookworm"
        BASE_FLAGS=""
        ;;
    unet-ensemble)
        WEIGHTS_DIR="${2:?give the weights folder written by python -m inference.train}"
        [ -f "$WEIGHTS_DIR/manifest.json" ] || {
            echo "$WEIGHTS_DIR has no manifest.json; train first:" \
                "python -m inference.train --dataset RELEASE --out $WEIGHTS_DIR" >&2
            exit 2
        }
        WEIGHTS_DIR="$(cd "$WEIGHTS_DIR" && pwd)"
        DEFAULT_BASE="isles-base-torch:bookworm"
        BASE_FLAGS="--torch"
        ;;
    *)
        echo "There is no build recipe for '$NAME' in $0." >&2
        exit 2
        ;;
esac
BASE_IMAGE="${BASE_IMAGE:-$DEFAULT_BASE}"
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    if [ "$BASE_IMAGE" != "$DEFAULT_BASE" ]; then
        echo "The Docker engine has no image $BASE_IMAGE; build or load it first." >&2
        exit 1
    fi
    echo "Building the offline base image $BASE_IMAGE (about a minute)."
    # shellcheck disable=SC2086 # BASE_FLAGS is empty or one flag
    "$ROOT/docker/base/build-base-image.sh" $BASE_FLAGS "$BASE_IMAGE"
fi

cd "$ROOT"
# unet-ensemble adds its modules, the majority vote it shares with the portal (evaluation/fusion.py) and
# the weights, which enter the context as unet-weights/: the members of
# the weights folder are named ./*, which no repository path starts with, so the transform renames only them.
# Every member is made readable by all (--mode): the image's user must read them, whatever modes the files
# had here (a process with the portal's umask, 077, writes them owner-only).
set -- "$DOCKERFILE" inference/__init__.py inference/reference/__init__.py inference/reference/threshold.py
if [ "$NAME" = threshold ]; then
    tar -c --mode=a+rX "$@" \
        | docker build --quiet -f "$DOCKERFILE" --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$TAG" - >/dev/null
else
    tar -c --mode=a+rX "$@" evaluation/__init__.py evaluation/fusion.py inference/reference/unet/*.py \
        -C "$WEIGHTS_DIR" --transform 's,^\.,unet-weights,' . \
        | docker build --quiet -f "$DOCKERFILE" --build-arg BASE_IMAGE="$BASE_IMAGE" \
            --build-arg WEIGHTS_DIR=unet-weights -t "$TAG" - >/dev/null
fi
echo "built $TAG"
