"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

The binaries are built from Go modules by ``scripts/install-controlplane.sh`` (pinned in
``tests/controlplane/go.mod``). Everything here is generated per session: a CA, the API
server's serving certificate, client certificates (an admin in ``system:masters``, the
controller manager as ``system:kube-controller-manager``) and the service-account signing
key, so that TokenRequest issues real ServiceAccount tokens. Authorization is RBAC only
(``--authorization-mode=RBAC``), as in any conformant cluster. There is no kubelet: pods are
accepted and never run.

Each process writes to its own log file under the session's folder; the fixture prints
their tails when a test fails.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.process import die_with_parent, free_port

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install-controlplane.sh"
SERVICE_CIDR = "10.96.0.0/16"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


def binaries() -> Path:
    """The folder of the built binaries; builds them when missing (minutes, once).

    ``GATEKEY_CONTROLPLANE_BIN`` names another folder with the same four binaries (etcd,
    kube-apiserver, kube-controller-manager, kubectl): another Kubernetes version.
    """
    other = os.environ.get("GATEKEY_CONTROLPLANE_BIN")
    if other:
        return Path(other)
    done = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"install-controlplane failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


# --- certificates -----------------------------------------------------------------------


def _pem_key(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Pki:
    """A CA and the certificates signed by it, written as PEM files in ``folder``."""

    folder: Path
    ca_key: Any = None
    ca_cert: x509.Certificate | None = None

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatekey-test-ca")])
        now = datetime.datetime.now(datetime.UTC)
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        (self.folder / "ca.crt").write_bytes(_pem_cert(self.ca_cert))

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.crt"

    def issue(
        self,
        name: str,
        common_name: str,
        *,
        organizations: tuple[str, ...] = (),
        server: bool = False,
    ) -> tuple[Path, Path]:
        """A key and certificate ``name.key`` / ``name.crt``: a client one (CN is the user,
        O the groups) or a server one for loopback and the in-cluster service names."""
        assert self.ca_cert is not None
        key = ec.generate_private_key(ec.SECP256R1())
        subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.DNSName("kubernetes"),
                        x509.DNSName("kubernetes.default"),
                        x509.DNSName("kubernetes.default.svc"),
                        x509.DNSName("kubernetes.default.svc.cluster.local"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.IPAddress(ipaddress.ip_address("10.96.0.1")),
                    ]
                ),
                critical=False,
            )
        cert = builder.sign(self.ca_key, hashes.SHA256())
        key_path, cert_path = self.folder / f"{name}.key", self.folder / f"{name}.crt"
        key_path.write_bytes(_pem_key(key))
        cert_path.write_bytes(_pem_cert(cert))
        return key_path, cert_path

    def service_account_keys(self) -> tuple[Path, Path]:
        """The key pair the API server signs ServiceAccount tokens with (RS256)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private, public = self.folder / "sa.key", self.folder / "sa.pub"
        private.write_bytes(_pem_key(key))
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return private, public


def kubeconfig(
    path: Path,
    server: str,
    ca_file: Path,
    *,
    token: str | None = None,
    cert: tuple[Path, Path] | None = None,
    namespace: str = "default",
) -> Path:
    """A kubeconfig with one context: a bearer token or a client certificate."""
    user: dict[str, str] = {"token": token} if token else {}
    if cert:
        user = {"client-key": str(cert[0]), "client-certificate": str(cert[1])}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "test",
                        "cluster": {"server": server, "certificate-authority": str(ca_file)},
                    }
                ],
                "users": [{"name": "user", "user": user}],
                "contexts": [
                    {
                        "name": "test",
                        "context": {"cluster": "test", "user": "user", "namespace": namespace},
                    }
                ],
                "current-context": "test",
            }
        )
    )
    return path


# --- processes --------------------------------------------------------------------------


@dataclass
class Process:
    """A long-running binary whose output goes to a log file (a pipe could fill and stall it)."""

    name: str
    args: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            out.write(f"\n--- start {time.strftime('%H:%M:%S')}: {' '.join(self.args)}\n".encode())
            out.flush()
            # Its own session (stop() signals the group), and killed with this process.
            self.popen = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def tail(self, lines: int = 12) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(text[-lines:])


def wait_for(
    check: Callable[[], Any], what: str, timeout: float = 60, process: Process | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with suppress(requests.RequestException, OSError):
            result = check()
            if result:
                return result
        if process is not None and not process.alive():
            raise RuntimeError(f"{process.name} exited while waiting for {what}:\n{process.tail()}")
        if time.monotonic() > deadline:
            tail = process.tail() if process else ""
            raise TimeoutError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.2)


@dataclass
class ControlPlane:
    """etcd, kube-apiserver and kube-controller-manager, started by :meth:`start`."""

    folder: Path
    bin: Path
    pki: Pki = field(init=False)
    etcd_port: int = field(default_factory=free_port)
    etcd_peer_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    processes: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pki = Pki(self.folder / "pki")
        self.serving = self.pki.issue("apiserver", "kube-apiserver", server=True)
        self.admin_cert = self.pki.issue("admin", "admin", organizations=("system:masters",))
        self.kcm_cert = self.pki.issue("kcm", "system:kube-controller-manager")
        self.sa_key, self.sa_pub = self.pki.service_account_keys()
        self.admin_kubeconfig = kubeconfig(
            self.folder / "admin.kubeconfig", self.url, self.pki.ca_file, cert=self.admin_cert
        )
        self.kcm_kubeconfig = kubeconfig(
            self.folder / "kcm.kubeconfig", self.url, self.pki.ca_file, cert=self.kcm_cert
        )
        self.session = requests.Session()
        # Not the environment's REQUESTS_CA_BUNDLE (or proxies): it would override `verify`.
        self.session.trust_env = False
        self.session.verify = str(self.pki.ca_file)
        self.session.cert = (str(self.admin_cert[1]), str(self.admin_cert[0]))

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    # -- the three processes -------------------------------------------------------------

    def _etcd(self) -> Process:
        return Process(
            "etcd",
            [
                str(self.bin / "etcd"),
                "--name=test",
                f"--data-dir={self.folder / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
                f"--initial-cluster=test=http://127.0.0.1:{self.etcd_peer_port}",
                "--unsafe-no-fsync",  # a throw-away store: no fsync, much faster on one disk
                "--log-level=warn",
            ],
            self.log("etcd"),
        )

    def _apiserver(self) -> Process:
        return Process(
            "kube-apiserver",
            [
                str(self.bin / "kube-apiserver"),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # A loopback address cannot be the `kubernetes` Service's endpoint; nothing
                # here reaches the API server through that Service.
                "--endpoint-reconciler-type=none",
                f"--secure-port={self.api_port}",
                f"--cert-dir={self.folder / 'apiserver-certs'}",
                f"--tls-cert-file={self.serving[1]}",
                f"--tls-private-key-file={self.serving[0]}",
                f"--client-ca-file={self.pki.ca_file}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={SA_ISSUER}",
                f"--service-account-key-file={self.sa_pub}",
                f"--service-account-signing-key-file={self.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # The test session is short: no need for periodic compaction by the server;
                # the watch tests compact etcd themselves.
                "--etcd-compaction-interval=0",
                # Every request of a ServiceAccount is audited: the tests read the log to
                # prove that Gatekey's processes got no 403 under the chart's RBAC.
                f"--audit-policy-file={self._audit_policy()}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--v=1",
            ],
            self.log("kube-apiserver"),
        )

    @property
    def audit_log(self) -> Path:
        return self.folder / "audit.log"

    def _audit_policy(self) -> Path:
        path = self.folder / "audit-policy.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "audit.k8s.io/v1",
                    "kind": "Policy",
                    "omitStages": ["RequestReceived"],
                    "rules": [
                        {"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
                        {"level": "None"},
                    ],
                }
            )
        )
        return path

    def audit(self, username: str) -> list[dict[str, Any]]:
        """The audited requests (stage ResponseComplete) of one user, oldest first."""
        events = []
        with suppress(FileNotFoundError), open(self.audit_log) as lines:
            for line in lines:
                event = json.loads(line)
                if (
                    event.get("stage") == "ResponseComplete"
                    and event["user"]["username"] == username
                ):
                    events.append(event)
        return events

    def _controller_manager(self) -> Process:
        return Process(
            "kube-controller-manager",
            [
                str(self.bin / "kube-controller-manager"),
                f"--kubeconfig={self.kcm_kubeconfig}",
                f"--authentication-kubeconfig={self.kcm_kubeconfig}",
                f"--authorization-kubeconfig={self.kcm_kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--cert-dir={self.folder / 'kcm-certs'}",
                "--leader-elect=false",
                # The controllers a namespace-scoped operator relies on: ownerReference
                # garbage collection, namespace deletion, and ServiceAccounts (with their
                # tokens' controller, which needs the signing key).
                "--controllers=garbagecollector,namespace,serviceaccount,serviceaccount-token",
                f"--service-account-private-key-file={self.sa_key}",
                f"--root-ca-file={self.pki.ca_file}",
                "--use-service-account-credentials=true",
                "--v=1",
            ],
            self.log("kube-controller-manager"),
        )

    def start(self) -> ControlPlane:
        self.processes["etcd"] = etcd = self._etcd()
        etcd.start()
        wait_for(
            lambda: requests.get(self.etcd_url + "/health", timeout=2).json()["health"] == "true",
            "etcd health",
            process=etcd,
        )
        self.start_apiserver()
        self.processes["kube-controller-manager"] = kcm = self._controller_manager()
        kcm.start()
        # The ServiceAccount controller creates `default` in each namespace: once it exists,
        # the controller manager is working.
        wait_for(
            lambda: self.get("/api/v1/namespaces/default/serviceaccounts/default"),
            "the default ServiceAccount",
            timeout=120,
            process=kcm,
        )
        return self

    def start_apiserver(self) -> None:
        self.processes["kube-apiserver"] = api = self._apiserver()
        api.start()
        self.wait_ready()

    def wait_ready(self, timeout: float = 180) -> None:
        wait_for(
            lambda: self.session.get(self.url + "/readyz", timeout=5).status_code == 200,
            "kube-apiserver /readyz",
            timeout=timeout,
            process=self.processes["kube-apiserver"],
        )

    def restart_apiserver(self) -> None:
        self.processes["kube-apiserver"].stop()
        self.start_apiserver()

    def stop(self) -> None:
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            if name in self.processes:
                self.processes[name].stop()

    def tails(self) -> str:
        return "\n\n".join(f"== {name} ==\n{p.tail()}" for name, p in self.processes.items())

    # -- the API, as an admin ------------------------------------------------------------

    def get(self, path: str) -> Any:
        response = self.session.get(self.url + path, timeout=10)
        return response.json() if response.status_code == 200 else None

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.session.request(method, self.url + path, json=body, timeout=30, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response.status_code, response.text)
        return response.json() if response.content else None

    def token(self, namespace: str, service_account: str, seconds: int = 3600) -> str:
        """A ServiceAccount token from the TokenRequest API (what a projected volume holds)."""
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": seconds},
        }
        return str(self.request("POST", path, body)["status"]["token"])

    def etcd_revision(self) -> int:
        """etcd's current revision (its v3 JSON gateway: no etcdctl needed)."""
        response = requests.post(self.etcd_url + "/v3/kv/range", json={"key": "AA=="}, timeout=5)
        return int(response.json()["header"]["revision"])

    def compact_etcd(self) -> int:
        """Compact etcd's history up to now: older resourceVersions are gone (410)."""
        revision = self.etcd_revision()
        response = requests.post(
            self.etcd_url + "/v3/kv/compaction",
            json={"revision": str(revision), "physical": True},
            timeout=30,
        )
        response.raise_for_status()
        return revision


class ApiError(Exception):
    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text
        try:
            self.body: dict[str, Any] = json.loads(text)
        except ValueError:
            self.body = {}
        super().__init__(f"{status}: {self.body.get('message', text[:500])}")


@contextmanager
def running(folder: Path) -> Iterator[ControlPlane]:
    plane = ControlPlane(folder, binaries())
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()
