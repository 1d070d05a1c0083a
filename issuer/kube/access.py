"""How to reach the API server: in-cluster service-account credentials, or a kubeconfig.

Only what an issuer needs: bearer tokens (re-read from the projected token file
on every connection, as bound tokens rotate), client certificates and the
cluster CA.
"""

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class ApiAccess:
    """An API server URL and the credentials to use there."""

    server: str
    token_file: Path | None = None
    token: str | None = None
    ssl_context: ssl.SSLContext | bool = True
    namespace: str = "default"
    """The namespace of the service account or of the kubeconfig context."""

    def headers(self) -> dict[str, str]:
        token = self.token_file.read_text().strip() if self.token_file else self.token
        return {"Authorization": f"Bearer {token}"} if token else {}


def discover(kubeconfig: str | None = None) -> ApiAccess:
    """In-cluster credentials when running in a Pod, else ``$KUBECONFIG`` / ``~/.kube/config``."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    if host and kubeconfig is None and (SERVICE_ACCOUNT / "token").exists():
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
        return ApiAccess(
            server=f"https://{host}:{port}",
            token_file=SERVICE_ACCOUNT / "token",
            ssl_context=context,
            namespace=(SERVICE_ACCOUNT / "namespace").read_text().strip(),
        )
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return from_kubeconfig(Path(path or Path.home() / ".kube" / "config"))


def from_kubeconfig(path: Path) -> ApiAccess:
    """The current context of a kubeconfig file."""
    config: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    current = config.get("current-context")
    context = _named(config.get("contexts"), current).get("context", {})
    cluster = _named(config.get("clusters"), context.get("cluster")).get("cluster", {})
    user = _named(config.get("users"), context.get("user")).get("user", {})
    server = str(cluster.get("server", "")).rstrip("/")
    if not server:
        raise ValueError(f"{path}: the current context names no cluster server")
    ssl_context: ssl.SSLContext | bool = True
    if server.startswith("https://"):
        if cluster.get("insecure-skip-tls-verify"):
            ssl_context = False
        else:
            ssl_context = ssl.create_default_context(cafile=_file(cluster, "certificate-authority"))
            cert, key = _file(user, "client-certificate"), _file(user, "client-key")
            if cert and key:
                ssl_context.load_cert_chain(cert, key)
    token_file = user.get("tokenFile")
    return ApiAccess(
        server=server,
        token=user.get("token"),
        token_file=Path(token_file) if token_file else None,
        ssl_context=ssl_context,
        namespace=str(context.get("namespace") or "default"),
    )


def _named(items: Any, name: Any) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            return item
    return {}


def _file(section: dict[str, Any], field: str) -> str | None:
    """A path from ``field``, or a private temporary file holding ``field-data``."""
    if section.get(field):
        return str(section[field])
    data = section.get(f"{field}-data")
    if not data:
        return None
    handle = tempfile.NamedTemporaryFile(prefix="gatekey-", delete=False)  # noqa: SIM115
    with handle:
        handle.write(base64.b64decode(data))
    return handle.name
