"""kubectl against the one context the real-cluster suite may touch."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml


def allowed_context(context: str, created: Path) -> str:
    """Why ``context`` may not be used (empty when it may)."""
    import os

    if not context:
        return "set GATEKEY_E2E_CONTEXT to a kube context (run tests/e2e_cluster/run.py --kind)"
    made = created.read_text().split() if created.exists() else []
    if context in made or os.environ.get("GATEKEY_E2E_ALLOW_CONTEXT") == context:
        return ""
    return (
        f"context {context!r} was not created by tests/e2e_cluster/run.py; to use a cluster of "
        f"your own, also set GATEKEY_E2E_ALLOW_CONTEXT={context} (the CRDs get installed there)"
    )


class Cluster:
    """One kube context; every kubectl call names it explicitly."""

    def __init__(self, context: str) -> None:
        self.context = context
        self.gatekey = Path(sys.executable).parent / "gatekey"

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        result = subprocess.run(
            ["kubectl", "--context", self.context, *args],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr}")
        return result.stdout

    def apply(self, namespace: str, *docs: dict[str, Any]) -> None:
        self.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(docs))

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        out = self.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
        return json.loads(out) if out.strip() else None

    def kubeconfig_for_context(self) -> Path:
        """A kubeconfig whose current context is this one (for the operator process)."""
        raw = self.kubectl("config", "view", "--raw", "--minify", "--flatten")
        path = Path(tempfile.mkdtemp(prefix="gatekey-e2e-")) / "kubeconfig"
        path.write_text(raw)
        path.chmod(0o600)
        return path
