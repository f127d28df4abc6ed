#!/bin/sh
# Build the portal's image (docker/Dockerfile) offline, on the offline base, from the working tree:
#   docker/build.sh                        -> isles-portal:latest on isles-base:bookworm
#   TAG=isles-portal:test docker/build.sh  -> another tag (the deployment test's)
#   EXTRAS=torch docker/build.sh           -> with the project's torch extra as well
# 1. BASE_IMAGE (default isles-base:bookworm) is built with docker/base/build-base-image.sh when the engine
#    lacks it and it is that default (about a minute and a half).
# 2. docker/wheelhouse/ (ignored by git) holds one wheel of every dependency of pyproject.toml (and of
#    EXTRAS), with requirements.in, the requirements it holds them for. The host's pip (PYTHON, default
#    python3: CPython 3.11 on x86_64 Linux with a glibc no newer than bookworm's 2.36, since the wheels it
#    builds or downloads go into the image) fills it from the index it is configured with, only when those
#    requirements changed. The image installs from it alone: the build runs with no network, pulls nothing.
# 3. The build context (what docker/Dockerfile copies, and the wheelhouse) is sent as a tar whose digest,
#    with the base image's id, labels the image (org.isles-portal.inputs-digest). When TAG already names an
#    image of that digest, nothing is built; otherwise the engine's layer cache keeps the dependencies'
#    layer (tagged TAG-dependencies) as long as the wheelhouse is the same.
set -eu
# Everything in the context must be readable by the image's user, whatever the caller's umask (a test
# run's is 077): the tar gives every member a+rX.
umask 022

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TAG="${TAG:-isles-portal:latest}"
EXTRAS="${EXTRAS:-}"
PYTHON="${PYTHON:-python3}"
DEFAULT_BASE="isles-base:bookworm"
BASE_IMAGE="${BASE_IMAGE:-$DEFAULT_BASE}"
WHEELHOUSE="$ROOT/docker/wheelhouse"
LABEL="org.isles-portal.inputs-digest"
cd "$ROOT"

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    if [ "$BASE_IMAGE" != "$DEFAULT_BASE" ]; then
        echo "The Docker engine has no image $BASE_IMAGE; build or load it first." >&2
        exit 1
    fi
    echo "Building the offline base image $BASE_IMAGE (about a minute and a half)."
    "$ROOT/docker/base/build-base-image.sh" "$BASE_IMAGE"
fi

"$PYTHON" -c 'import platform, sys; sys.exit(sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64")' || {
    echo "$PYTHON is not CPython 3.11 on x86_64, whose wheels the image needs; set PYTHON to one that is." >&2
    exit 1
}
WORK="$(mktemp -d /tmp/isles-portal-build.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
# The requirements: pyproject.toml's dependencies, the extras' and the build system's (the image installs
# the project itself without build isolation, so with the setuptools of the wheelhouse).
"$PYTHON" - "$EXTRAS" >"$WORK/requirements.in" <<'EOF'
import sys
import tomllib

with open("pyproject.toml", "rb") as file:
    pyproject = tomllib.load(file)
requirements = list(pyproject["project"]["dependencies"])
for extra in filter(None, sys.argv[1].split(",")):
    requirements += pyproject["project"]["optional-dependencies"][extra]
requirements += pyproject["build-system"]["requires"]
print("\n".join(requirements))
EOF
# The base's Python may take other dependencies than the host's (environment markers: redis needs
# async-timeout below Python 3.11.3, and bookworm's is 3.11.2), so the base's own pip checks, with no
# network, that the wheelhouse holds everything it would install; the host's pip adds what it names.
# Prints the requirement the base's pip finds no wheel for (status 0), nothing when none is missing
# (status 1), or the dry run's log on stderr when it failed otherwise (status 2).
missing_in_base() {
    docker run --rm --network none -v "$WHEELHOUSE.partial:/wheelhouse:ro" "$BASE_IMAGE" sh -c '
        python3 -m venv --without-pip /tmp/venv && python3 -m pip --python /tmp/venv/bin/python install \
            --dry-run --quiet --no-index --find-links /wheelhouse --requirement /wheelhouse/requirements.in' \
        >"$WORK/dry-run.log" 2>&1 && return 1
    sed -n 's/^ERROR: No matching distribution found for \([^;]*\).*/\1/p' "$WORK/dry-run.log" | grep . || {
        cat "$WORK/dry-run.log" >&2
        return 2
    }
}
if ! cmp -s "$WORK/requirements.in" "$WHEELHOUSE/requirements.in"; then
    echo "Filling docker/wheelhouse/ with the wheels of pyproject.toml's dependencies."
    rm -rf "$WHEELHOUSE.partial"
    mkdir -p "$WHEELHOUSE.partial"
    cp "$WORK/requirements.in" "$WHEELHOUSE.partial/requirements.in"
    "$PYTHON" -m pip wheel --quiet --wheel-dir "$WHEELHOUSE.partial" --requirement "$WORK/requirements.in"
    added=""
    while :; do
        status=0
        missing="$(missing_in_base)" || status=$?
        [ "$status" = 1 ] && break
        if [ "$status" != 0 ] || [ "$missing" = "$added" ]; then
            echo "The base image's pip cannot install the wheelhouse (see above); docker/wheelhouse/ is left as is." >&2
            exit 1
        fi
        echo "The base's Python also needs $missing."
        "$PYTHON" -m pip wheel --quiet --wheel-dir "$WHEELHOUSE.partial" "$missing"
        added="$missing"
    done
    rm -rf "$WHEELHOUSE"
    mv "$WHEELHOUSE.partial" "$WHEELHOUSE"
fi

# The same bytes for the same files: names sorted, times, owners and modes fixed.
context() {
    tar -c --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=a+rX,u+w,go-w \
        --exclude=__pycache__ --exclude='*.pyc' \
        docker/Dockerfile docker/entrypoint docker/wheelhouse pyproject.toml manage.py \
        portal evaluation inference releases frontend
}
DIGEST="$({
    context
    docker image inspect --format '{{.Id}}' "$BASE_IMAGE"
} | sha256sum | cut -c1-64)"
if [ "$(docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$TAG" 2>/dev/null)" = "$DIGEST" ]; then
    echo "$TAG is up to date (inputs $DIGEST)."
    exit 0
fi
# Both stages are tagged: the dependencies' (TAG-dependencies) is the engine's cache of the layer that
# installs the wheelhouse. What a tag named before is removed unless another tag or a container uses it.
build() {
    target="$1"
    tag="$2"
    shift 2
    previous="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
    context | docker build --quiet --force-rm --network none -f docker/Dockerfile \
        --build-arg BASE_IMAGE="$BASE_IMAGE" --target "$target" -t "$tag" "$@" - >/dev/null
    if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
        docker image rm "$previous" >/dev/null 2>&1 || true
    fi
}
build dependencies "$TAG-dependencies"
build portal "$TAG" --label "$LABEL=$DIGEST"
echo "built $TAG (inputs $DIGEST)"
