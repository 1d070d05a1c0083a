#!/usr/bin/env bash
# `make run`'s install: Gatekey and its runtime dependencies only (not the development
# tools of `make test`), into the virtual environment VENV (created if missing), showing
# one line per package instead of pip's full output or nothing.
#
#   scripts/install-runtime.sh VENV PYTHON
#
# pip's complete output goes to VENV/pip-runtime.log; its errors are shown too.
set -euo pipefail

venv="${1:-.venv}"
python="${2:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv"
    "$python" -I -m venv "$venv"
fi
echo "==> installing Gatekey and its runtime dependencies into $venv (pip; full log in $venv/pip-runtime.log)"
# PYTHONWARNINGS hides the build backend's editable-install banner (a warning about
# folder names such as ./operator, which the package mapping already handles).
PYTHONWARNINGS=ignore "$venv/bin/pip" install --disable-pip-version-check --progress-bar off -e . 2>&1 \
    | tee "$venv/pip-runtime.log" \
    | awk '
        /^Collecting / { n++; printf "  [%d] %s\n", n, $2; fflush(); next }
        /^Successfully installed/ { print "==> installed " (NF - 2) " packages"; fflush(); next }
        /^(ERROR|WARNING|error)/ { print; fflush(); next }
        /^ *(ERROR|error:)/ { print; fflush() }
    '
