#!/usr/bin/env bash
# `make run`'s install: Gatekey and its runtime dependencies only (not the development
# tools of `make test`), into the virtual environment VENV, with visible progress.
#
#   scripts/install-runtime.sh VENV PYTHON
#
# Fast on a fresh machine: the venv is created without pip (ensurepip alone took 39 s on a
# loaded 2-core machine), uv (a pinned wheel from PyPI, fetched by PYTHON's own pip) then
# resolves and downloads in parallel and installs pip too, so that `make test` can go on
# with pip in the same venv. If uv cannot be had, plain pip does the same, slower.
set -euo pipefail

venv="${1:-.venv}"
python="${2:-python3}"
uv_version="0.13.9"

if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv"
    "$python" -I -m venv --without-pip "$venv"
fi
if [ ! -x "$venv/bin/uv" ]; then
    echo "==> fetching uv $uv_version (the installer)"
    "$python" -m pip --python "$venv/bin/python" install --quiet --disable-pip-version-check \
        "uv==$uv_version" || echo "    (uv unavailable: installing with pip instead)"
fi
echo "==> installing Gatekey and its runtime dependencies into $venv"
if [ -x "$venv/bin/uv" ]; then
    # PYTHONWARNINGS hides the build backend's editable-install banner (a warning about
    # folder names such as ./operator, which the package mapping already handles).
    PYTHONWARNINGS=ignore "$venv/bin/uv" pip install --python "$venv/bin/python" -e . pip
else
    [ -x "$venv/bin/pip" ] || "$venv/bin/python" -I -m ensurepip --upgrade >/dev/null
    PYTHONWARNINGS=ignore "$venv/bin/pip" install --disable-pip-version-check \
        --progress-bar off -e . 2>&1 | awk '/^Collecting / { printf "  %s\n", $2; fflush() }
        /^Successfully installed/ { print "==> installed " (NF - 2) " packages"; fflush() }
        /ERROR|error:/ { print; fflush() }'
fi
