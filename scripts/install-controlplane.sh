#!/usr/bin/env bash
# Builds the Kubernetes control plane the real-API-server tests run (etcd, kube-apiserver,
# kube-controller-manager, kubectl) from the Go modules pinned in tests/controlplane/, and
# prints the folder that holds them.
#
#   scripts/install-controlplane.sh            build when missing, print the bin folder
#   scripts/install-controlplane.sh --print    only print the folder (exit 1 if not built)
#
# No release binary can be downloaded on the project's machines, only Go modules. The
# binaries go to a per-user cache OUTSIDE the clone, keyed by a hash of go.mod, go.sum and
# the Go version: CI runs in a fresh clone of main on the same machine, where an in-repo
# .cache/ would be empty and each run would pay the full build again (17 CPU-minutes on
# 2 cores); a key that changes with the pins rebuilds exactly when it must.
# GATEKEY_CONTROLPLANE_CACHE overrides the cache root.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
mod="$here/tests/controlplane"
want_print=false
for arg in "$@"; do
    case "$arg" in
        --print) want_print=true ;;
        -h | --help)
            sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "install-controlplane: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

if ! command -v go >/dev/null 2>&1; then
    echo "install-controlplane: no 'go' on PATH; the control plane is built from Go modules" >&2
    exit 1
fi

k8s_version=$(awk '$1 == "k8s.io/kubernetes" {print $2}' "$mod/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}' "$mod/go.mod")
binaries=(etcd kube-apiserver kube-controller-manager kubectl)
# The version the binaries report: kubectl, helm's kubeVersion check and the API server's
# /version read it; without it they say v0.0.0-master.
minor=${k8s_version#v1.}
minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"

# The key: the pins, the Go version and the build's flags (not this file's comments).
key=$({ cat "$mod/go.mod" "$mod/go.sum"; go version; echo "$ldflags ${binaries[*]}"; } |
    sha256sum | cut -c1-16)
root=${GATEKEY_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gatekey/controlplane}
bin="$root/$k8s_version-$key"

built() {
    local b
    for b in "${binaries[@]}"; do
        [ -x "$bin/$b" ] || return 1
    done
}

if built; then
    echo "$bin"
    exit 0
fi
if $want_print; then
    echo "install-controlplane: not built yet (run scripts/install-controlplane.sh)" >&2
    exit 1
fi

tmp="$bin.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
start=$(date +%s)
echo "install-controlplane: building kubernetes $k8s_version and etcd $etcd_version into $bin" >&2
echo "install-controlplane: (17 CPU-minutes the first time; under a minute with a warm Go cache)" >&2
cd "$mod"
# CGO off: static binaries, and no C toolchain in the build's path.
export CGO_ENABLED=0
go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl
go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
mv "$tmp" "$bin"
trap - EXIT
echo "install-controlplane: built in $(($(date +%s) - start)) s" >&2
echo "$bin"
