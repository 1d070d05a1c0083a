#!/usr/bin/env bash
# Builds the Gatekey image with podman, without any registry, and prints its reference.
#
#   scripts/build-image.sh            build what is missing, print localhost/gatekey:<key>
#
# No container registry can be reached from the project's machines, so the base images are
# made here with Debian's mmdebstrap and `podman import`:
#   localhost/gatekey-base-runtime:<key>   python3 only (the final stage: no pip, no apt lists,
#                                          no docs)
#   localhost/gatekey-base-build:<key>     the same plus pip and venv (the build stage)
# Then the Dockerfile is built with --pull=never, the machine's CA bundle mounted (pip inside
# the build reaches PyPI only with it) and --no-cache (buildah 1.28's layer cache drops
# COPY --from and RUN --mount sources).
#
# Every image is tagged with a hash of its inputs and reused while they are unchanged: the
# bases by this script's recipe, Gatekey's by the Dockerfile, .dockerignore, pyproject.toml,
# README.md, operator/ and issuer/ and the base's tag. podman keeps them in its store, which
# outlives a fresh clone on the same machine, so a warm `make test` builds nothing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF="$root/scripts/image/containers.conf"
SUITE=bookworm
CA_BUNDLE=${GATEKEY_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

for tool in podman mmdebstrap runc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "build-image: '$tool' is missing (scripts/install-tools.sh --image installs it)" >&2
        exit 1
    fi
done

log() { echo "build-image: $*" >&2; }

# A base's tag: a hash of its recipe (make_base, the suite, the variant, the packages).
base_key() {
    { declare -f make_base; echo "$SUITE $*"; } | sha256sum | cut -c1-12
}

# make_base TAR VARIANT PACKAGES: a Debian of mmdebstrap's VARIANT with PACKAGES, without
# docs, man pages, locales, apt lists or caches. The runtime base is the `essential` variant
# (no apt: the image never installs anything); /usr is merged by mmdebstrap's hook rather
# than by the usrmerge package, which would pull in perl (46 MB).
make_base() {
    local tar=$1 variant=$2 packages=$3
    mmdebstrap --quiet --variant="$variant" --include="$packages" \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/lintian/*' \
        --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
        "$SUITE" "$tar" </dev/null
}

import_base() {
    local ref=$1 variant=$2 packages=$3 tar
    if podman image exists "$ref"; then
        return
    fi
    tar=$(mktemp --suffix=.tar)
    log "making $ref ($SUITE, $variant: $packages) with mmdebstrap"
    local out
    out=$(mktemp)
    if ! make_base "$tar" "$variant" "$packages" >"$out" 2>&1; then
        tail -n 40 "$out" >&2
        echo "build-image: mmdebstrap failed" >&2
        exit 1
    fi
    rm -f "$out"
    # Without /usr/sbin on PATH, groupadd and useradd are "not found" in the build.
    podman import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        "$tar" "$ref" >/dev/null
    rm -f "$tar"
}

# passwd: groupadd and useradd, for the image's user.
runtime=(essential python3-minimal,libpython3.11-stdlib,ca-certificates,passwd)
# binutils: strip, for the debug symbols of the compiled extensions.
build=(minbase python3,python3-pip,python3-venv,ca-certificates,binutils)
runtime_base=localhost/gatekey-base-runtime:$(base_key "${runtime[@]}")
build_base=localhost/gatekey-base-build:$(base_key "${build[@]}")
import_base "$runtime_base" "${runtime[@]}"
import_base "$build_base" "${build[@]}"

# Gatekey's own inputs (what .dockerignore lets in), the Dockerfile and the bases.
image_key=$(
    cd "$root"
    {
        echo "$runtime_base $build_base"
        cat Dockerfile .dockerignore pyproject.toml README.md
        find operator issuer -type f -name '*.py' -o -type f -name 'py.typed' | LC_ALL=C sort |
            while read -r f; do echo "$f"; cat "$f"; done
    } | sha256sum | cut -c1-12
)
image=localhost/gatekey:$image_key
if podman image exists "$image"; then
    echo "$image"
    exit 0
fi

log "building $image"
# pip inside the build: the machine's pip settings (index, timeout) pass as build args; the
# CA bundle is mounted where Debian's pip looks for it.
pip_args=()
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_DEFAULT_TIMEOUT PIP_TRUSTED_HOST; do
    if [ -n "${!var:-}" ]; then
        pip_args+=(--build-arg "$var=${!var}")
    fi
done
# The build's output goes to a log, shown when it fails.
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
if ! podman build --pull=never --no-cache --network=host \
    -v "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
    --build-arg "PYTHON_IMAGE=$runtime_base" \
    --build-arg "BUILD_IMAGE=$build_base" \
    "${pip_args[@]}" \
    --label io.gatekey.built-by=build-image.sh \
    -t "$image" "$root" >"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    echo "build-image: podman build failed" >&2
    exit 1
fi
# Intermediate stages are not kept, nor images this script built more than a day ago that
# no container uses (each change to the code makes a new one): the store stays bounded.
podman image prune --force >/dev/null 2>&1 || true
podman image prune --all --force --filter label=io.gatekey.built-by=build-image.sh \
    --filter until=24h >/dev/null 2>&1 || true
echo "$image"
