"""How the operator and the issuer log in (``gatekey.operator.kube.access``), against the real
API server: kubeconfigs with an ``exec`` credential plugin (as EKS, GKE and AKS write them),
client certificates given inline, the service account's rotating token, and no key material
left in the temporary folder.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from gatekey.operator.kube.access import EXPIRY_MARGIN, Access, Credentials
from tests.realkube.conftest import Kubectl
from tests.realkube.controlplane import ControlPlane
from tests.realkube.test_quickstart import client, token
from tests.realkube.test_watch import ready
from tests.support.manifests import credential, policy
from tests.support.process import GATEKEY, Served, eventually, free_port, wait_ready

PLUGIN = """\
import json, os, sys
from pathlib import Path
here = Path(sys.argv[1])
with open(here / "calls", "a") as calls:
    calls.write(os.environ["KUBERNETES_EXEC_INFO"] + "\\n")
status = json.loads((here / "status.json").read_text())
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1",
    "kind": "ExecCredential",
    "status": status,
}))
"""


def exec_kubeconfig(
    folder: Path, controlplane: ControlPlane, namespace: str, status: dict[str, Any]
) -> Path:
    """A kubeconfig whose user is an exec plugin printing ``status`` (and counting calls),
    with the CA inline as ``certificate-authority-data``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.py").write_text(PLUGIN)
    (folder / "status.json").write_text(json.dumps(status))
    ca = controlplane.pki.ca_file.read_bytes()
    path = folder / "exec.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "real",
                        "cluster": {
                            "server": controlplane.url,
                            "certificate-authority-data": base64.b64encode(ca).decode(),
                        },
                    }
                ],
                "users": [
                    {
                        "name": "plugin",
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1",
                                "command": sys.executable,
                                "args": [str(folder / "plugin.py"), str(folder)],
                                "interactiveMode": "Never",
                            }
                        },
                    }
                ],
                "contexts": [
                    {
                        "name": "real",
                        "context": {"cluster": "real", "user": "plugin", "namespace": namespace},
                    }
                ],
                "current-context": "real",
            }
        )
    )
    return path


def calls(folder: Path) -> int:
    path = folder / "calls"
    return len(path.read_text().splitlines()) if path.exists() else 0


def key_files(folder: Path) -> list[str]:
    """Files under ``folder`` holding a private key."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and b"PRIVATE KEY" in path.read_bytes():
            found.append(str(path))
    return found


@contextmanager
def gatekey_process(args: list[str], tmpdir: Path) -> Iterator[Served]:
    process = Served(
        [GATEKEY, *args],
        Path(tempfile.mkdtemp(prefix="gatekey-access-")),
        os.environ | {"TMPDIR": str(tmpdir)},
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def reader_role(kubectl: Kubectl, namespace: str, account: str) -> None:
    """What ``gatekey serve --kube`` needs: read Secrets and ConfigMaps in ``namespace``."""
    kubectl.run(
        "create",
        "role",
        "gatekey-reader",
        "--verb=get,list,watch",
        "--resource=secrets,configmaps",
        "-n",
        namespace,
    )
    kubectl.run(
        "create",
        "rolebinding",
        "gatekey-reader",
        "--role=gatekey-reader",
        f"--serviceaccount={namespace}:{account}",
        "-n",
        namespace,
    )


def test_exec_plugins_log_in_the_operator_and_the_issuer(
    controlplane: ControlPlane, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """The operator logs in with an exec plugin that prints the admin's client certificate
    and key; the issuer with one that prints a ServiceAccount token (TokenRequest), allowed
    only to read. Both work, and neither leaves a key in its temporary folder."""
    key_path, cert_path = controlplane.admin_cert
    operator_config = exec_kubeconfig(
        tmp_path / "operator-plugin",
        controlplane,
        namespace,
        {
            "clientCertificateData": cert_path.read_text(),
            "clientKeyData": key_path.read_text(),
        },
    )
    reader_role(kubectl, namespace, "default")
    expires = datetime.now(UTC) + timedelta(hours=1)
    issuer_config = exec_kubeconfig(
        tmp_path / "issuer-plugin",
        controlplane,
        namespace,
        {
            "token": controlplane.token(namespace, "default"),
            "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    operator_tmp, issuer_tmp = tmp_path / "operator-tmp", tmp_path / "issuer-tmp"
    operator_tmp.mkdir()
    issuer_tmp.mkdir()
    port = free_port()
    with (
        gatekey_process(
            ["operator", "--namespace", namespace, "--kubeconfig", str(operator_config)],
            operator_tmp,
        ) as operator,
        gatekey_process(
            [
                "serve",
                "--kube",
                "--kubeconfig",
                str(issuer_config),
                "--state-dir",
                str(tmp_path / "state"),
                "--port",
                str(port),
            ],
            issuer_tmp,
        ) as issuer,
    ):
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, issuer, timeout=60)
        kubectl.apply(
            [
                policy("shop", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
                credential("svc", acl=["ProxyGroup/shop"]),
            ],
            namespace,
        )
        ready(kubectl, namespace, "credential/svc", "authpolicy/shop")
        issued = eventually(
            lambda: (
                (
                    r := token(
                        url, client(kubectl, namespace, "svc-credentials"), "/credential/jwt"
                    )
                ).ok
                and r
            ),
            timeout=60,
        )
        assert issued.json()["token_type"] == "Bearer"
        assert operator.poll() is None
        assert issuer.poll() is None
        assert calls(tmp_path / "operator-plugin") >= 1
        assert calls(tmp_path / "issuer-plugin") >= 1
        assert key_files(operator_tmp) == []
        assert key_files(issuer_tmp) == []
    assert key_files(operator_tmp) == []
    assert key_files(issuer_tmp) == []


def inline_cert_kubeconfig(
    path: Path, controlplane: ControlPlane, namespace: str, **cluster: str
) -> Path:
    key_path, cert_path = controlplane.admin_cert

    def data(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "real",
                        "cluster": {
                            "server": controlplane.url,
                            "certificate-authority-data": data(controlplane.pki.ca_file),
                            **cluster,
                        },
                    }
                ],
                "users": [
                    {
                        "name": "admin",
                        "user": {
                            "client-certificate-data": data(cert_path),
                            "client-key-data": data(key_path),
                        },
                    }
                ],
                "contexts": [
                    {
                        "name": "real",
                        "context": {"cluster": "real", "user": "admin", "namespace": namespace},
                    }
                ],
                "current-context": "real",
            }
        )
    )
    return path


def test_inline_client_key_leaves_no_file(
    controlplane: ControlPlane, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """``client-key-data`` in the kubeconfig: the issuer serves from the cluster, and no file
    in its $TMPDIR holds the key, while it runs or after (the hand parser used to write it to
    a temporary file and never delete it)."""
    config = inline_cert_kubeconfig(tmp_path / "inline.kubeconfig", controlplane, namespace)
    kubectl.apply(
        [
            policy("shop", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
            credential("svc", acl=["ProxyGroup/shop"]),
        ],
        namespace,
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    port = free_port()
    with gatekey_process(
        ["operator", "--namespace", namespace, "--kubeconfig", str(config)], scratch
    ) as operator:
        ready(kubectl, namespace, "credential/svc")
        with gatekey_process(
            [
                "serve",
                "--kube",
                "--kubeconfig",
                str(config),
                "--state-dir",
                str(tmp_path / "state"),
                "--port",
                str(port),
            ],
            scratch,
        ) as issuer:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, issuer, timeout=60)
            secret = client(kubectl, namespace, "svc-credentials")
            eventually(lambda: token(url, secret, "/credential/jwt").ok, timeout=30)
            assert key_files(scratch) == []
            assert list(scratch.iterdir()) == []
        assert operator.poll() is None
    assert key_files(scratch) == []


async def list_secrets(access: Access, namespace: str) -> int:
    """One request as the issuer's watch makes it (a 401 makes the credentials stale)."""
    credentials = await access.current()
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{credentials.server}/api/v1/namespaces/{namespace}/secrets",
            headers=credentials.headers(),
            ssl=credentials.ssl_context,
            server_hostname=credentials.tls_server_name,
        ) as response,
    ):
        if response.status == 401:
            access.invalidate()
        return response.status


def test_an_expiring_exec_token_is_fetched_again(
    controlplane: ControlPlane, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """An exec plugin's token comes with ``expirationTimestamp``: the plugin runs again
    before that instant, not on every request."""
    reader_role(kubectl, namespace, "default")
    soon = datetime.now(UTC) + EXPIRY_MARGIN + timedelta(seconds=2)
    config = exec_kubeconfig(
        tmp_path,
        controlplane,
        namespace,
        {
            "token": controlplane.token(namespace, "default"),
            "expirationTimestamp": soon.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )

    async def scenario() -> list[int]:
        access = Access.discover(str(config))
        statuses = [await list_secrets(access, namespace), await list_secrets(access, namespace)]
        assert calls(tmp_path) == 1
        await asyncio.sleep((soon - EXPIRY_MARGIN - datetime.now(UTC)).total_seconds() + 0.2)
        statuses.append(await list_secrets(access, namespace))
        return statuses

    assert asyncio.run(scenario()) == [200, 200, 200]
    assert calls(tmp_path) == 2
    info = json.loads((tmp_path / "calls").read_text().splitlines()[0])
    assert info["kind"] == "ExecCredential"


def bound_token(controlplane: ControlPlane, namespace: str, secret: str) -> str:
    """A ServiceAccount token bound to a Secret: deleting the Secret revokes it."""
    controlplane.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret}},
    )
    uid = controlplane.get(f"/api/v1/namespaces/{namespace}/secrets/{secret}")["metadata"]["uid"]
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "expirationSeconds": 3600,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Secret", "name": secret, "uid": uid},
        },
    }
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/default/token"
    return str(controlplane.request("POST", path, body)["status"]["token"])


def test_the_service_account_token_rotates(
    controlplane: ControlPlane, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """In a Pod: the projected token file is replaced (the kubelet rotates it) and the old
    token is revoked; the next request gets 401, the file is read again, and the one after
    uses the new token."""
    reader_role(kubectl, namespace, "default")
    mount = tmp_path / "serviceaccount"
    mount.mkdir()
    (mount / "ca.crt").write_bytes(controlplane.pki.ca_file.read_bytes())
    (mount / "namespace").write_text(namespace)
    (mount / "token").write_text(bound_token(controlplane, namespace, "first"))
    environ = {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(controlplane.api_port),
    }

    async def scenario() -> list[int]:
        access = Access.discover(service_account=mount, environ=environ)
        assert access.credentials.namespace == namespace
        assert access.credentials.server == controlplane.url
        statuses = [await list_secrets(access, namespace)]
        (mount / "token").write_text(bound_token(controlplane, namespace, "second"))
        controlplane.request("DELETE", f"/api/v1/namespaces/{namespace}/secrets/first")
        statuses.append(await eventually_401(access, namespace))
        statuses.append(await list_secrets(access, namespace))
        return statuses

    assert asyncio.run(scenario()) == [200, 401, 200]


async def eventually_401(access: Access, namespace: str) -> int:
    """The API server caches token reviews for a few seconds: wait for the revocation."""
    for _ in range(300):
        status = await list_secrets(access, namespace)
        if status == 401:
            return status
        await asyncio.sleep(0.1)
    return status


def test_credentials_hide_the_key_and_token() -> None:
    shown = repr(
        Credentials(server="https://x", authorization="Bearer t0ken", private_key_pem=b"k3y")
    )
    assert "t0ken" not in shown
    assert "k3y" not in shown


def test_tls_server_name_is_the_name_checked(
    controlplane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """``tls-server-name``: the API server's certificate is checked against that name, not
    the URL's host (kubeconfigs that reach the server through a tunnel or an IP)."""

    def status(name: str) -> int | str:
        config = inline_cert_kubeconfig(
            tmp_path / f"{name}.kubeconfig", controlplane, namespace, **{"tls-server-name": name}
        )
        try:
            return asyncio.run(list_secrets(Access.discover(str(config)), namespace))
        except aiohttp.ClientConnectorCertificateError:
            return "certificate refused"

    assert status("kubernetes.default.svc") == 200  # a name in the serving certificate
    assert status("elsewhere.example") == "certificate refused"
