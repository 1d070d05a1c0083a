"""The embedded mode starts without the Kubernetes client: importing the ``kubernetes``
package costs seconds, paid by each ``--workers`` process (a worker that took too long to
start failed the two-worker test)."""

import subprocess
import sys


def test_serve_and_the_cli_do_not_import_kubernetes_or_kopf() -> None:
    code = (
        "import sys, gatekey.issuer.cli, gatekey.issuer.serve; "
        "print(sorted(m for m in ('kubernetes', 'kopf') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
