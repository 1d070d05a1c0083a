"""How Gatekey reaches the API server: one module for the operator and the issuer.

Credentials come from the ``kubernetes`` package's own loaders, by the rules kubectl
follows: in a Pod, the service account (its projected token rotates, so the token file
is read again every minute and after a 401); otherwise the kubeconfig (``--kubeconfig``,
else ``$KUBECONFIG``, a ``:``-separated list merged as kubectl merges it, else
``~/.kube/config``), ``exec`` credential plugins included (the kubeconfigs of EKS, GKE and
AKS), whose credentials are fetched again before their ``expirationTimestamp``
(client.authentication.k8s.io ExecCredential).

Why here: the dependency between the two halves runs one way (the issuer may import the
operator, the operator never imports the issuer; import-linter checks it), so the one
module both use belongs to the operator's adapter package. It imports neither kopf nor
aiohttp: the operator turns :class:`Credentials` into a ``kopf.ConnectionInfo``
(``runtime.login``), the issuer's watch sends them with aiohttp.

No key material stays on disk. The library writes ``client-key-data`` (and any other
``*-data`` field) to temporary files: here it writes them into a private folder that is
removed as soon as the load ends, after the files were read into memory. The TLS
context is built from memory: Python's ``ssl`` loads a client key only from a path, so the
key goes into an anonymous in-memory file (``memfd_create``) read through
``/proc/self/fd``; where that is missing, a private temporary file removed at once.
"""

import asyncio
import contextlib
import logging
import os
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client import Configuration
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader
from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_FILE_PERIOD = timedelta(minutes=1)
"""How long a service-account token read from its file is used before reading it again
(the client libraries' period: the kubelet replaces the file well before expiry)."""
EXPIRY_MARGIN = timedelta(seconds=30)
"""Credentials with an expiry are fetched again this long before it."""


class AccessError(Exception):
    """No usable credentials; the message is one line for the user."""


@dataclass(frozen=True)
class Credentials:
    """An API server URL and what to present there, held in memory."""

    server: str
    namespace: str = "default"
    """The namespace of the service account, or of the kubeconfig context."""
    authorization: str | None = field(default=None, repr=False)
    """The whole ``Authorization`` header value (``Bearer ...`` or ``Basic ...``)."""
    ca_pem: str | None = None
    certificate_pem: bytes | None = None
    private_key_pem: bytes | None = field(default=None, repr=False)
    verify: bool = True
    """False only when the kubeconfig says ``insecure-skip-tls-verify``."""
    tls_server_name: str | None = None
    """The name to check in the server's certificate, when not the URL's host."""
    expires: datetime | None = None
    """When these credentials must be replaced (an exec plugin's ``expirationTimestamp``
    less a margin; None: no known expiry)."""
    reload_at: datetime | None = None
    """When to load them again anyway (the service-account token file, which the kubelet
    replaces before the token expires)."""
    source: str = ""
    """Where they came from, for messages: a kubeconfig path and context, or the Pod."""

    def headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization} if self.authorization else {}

    def expired(self, now: datetime | None = None) -> bool:
        """Whether to load them again before the next request."""
        when = min((t for t in (self.expires, self.reload_at) if t is not None), default=None)
        return when is not None and (now or datetime.now(UTC)) >= when

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | bool:
        """What aiohttp's ``ssl=`` takes: a context (CA and client certificate, from
        memory), ``False`` when verification is off, ``True`` for plain HTTP."""
        if not self.server.startswith("https://"):
            return True
        if not self.verify:
            return False
        return tls_context(self.ca_pem, self.certificate_pem, self.private_key_pem)


def tls_context(
    ca_pem: str | None, certificate_pem: bytes | None, private_key_pem: bytes | None
) -> ssl.SSLContext:
    """A client TLS context from PEM held in memory."""
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    if certificate_pem and private_key_pem:
        with _memory_file(certificate_pem + b"\n" + private_key_pem) as path:
            context.load_cert_chain(path)
    return context


@contextlib.contextmanager
def _memory_file(content: bytes) -> Iterator[str]:
    """A path to ``content`` that exists only while the block runs, in memory on Linux."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("gatekey-client-key", os.MFD_CLOEXEC)
        try:
            os.write(fd, content)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    folder = tempfile.mkdtemp(prefix="gatekey-tls-")  # 0700
    try:
        path = os.path.join(folder, "client.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(content)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def load(
    kubeconfig: str | None = None,
    *,
    context: str | None = None,
    service_account: Path = SERVICE_ACCOUNT,
    environ: Mapping[str, str] = os.environ,
) -> Credentials:
    """In a Pod (and no kubeconfig named): the service account. Else the kubeconfig.

    Blocking (an exec plugin is a process): call it in a thread from a loop."""
    pod = "not in a Pod"
    if kubeconfig is None and environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            return _in_cluster(service_account, environ)
        except ConfigException as exc:  # e.g. automountServiceAccountToken: false
            pod = f"no service account ({_one_line(exc)})"
    paths = kubeconfig or environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return _from_kubeconfig(paths, context, pod)


def _in_cluster(folder: Path, environ: Mapping[str, str]) -> Credentials:
    configuration = Configuration()
    InClusterConfigLoader(  # type: ignore[no-untyped-call]
        token_filename=str(folder / "token"),
        cert_filename=str(folder / "ca.crt"),
        try_refresh_token=False,  # read again by :class:`Access`, off the event loop
        environ=environ,
    ).load_and_set(configuration)
    namespace_file = folder / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.exists() else "default"
    return Credentials(
        server=str(configuration.host),
        namespace=namespace or "default",
        authorization=_authorization(configuration),
        ca_pem=_read_text(configuration.ssl_ca_cert),
        reload_at=datetime.now(UTC) + TOKEN_FILE_PERIOD,
        source=f"the service account in {folder}",
    )


_loading = threading.Lock()


def _from_kubeconfig(paths: str, context: str | None, pod: str = "not in a Pod") -> Credentials:
    named = ", ".join(p for p in paths.split(os.pathsep) if p)
    existing = [p for p in paths.split(os.pathsep) if p and os.path.exists(os.path.expanduser(p))]
    if not existing:
        raise AccessError(f"no kubeconfig at {named} ({pod})")
    folder = tempfile.mkdtemp(prefix="gatekey-kube-")  # 0700, gone before this returns
    try:
        with _loading, _library_errors() as problems:
            try:
                merged = KubeConfigMerger(os.pathsep.join(existing))  # type: ignore[no-untyped-call]
                if merged.config is None:
                    raise AccessError(f"{named}: not a kubeconfig")
                loader = KubeConfigLoader(  # type: ignore[no-untyped-call]
                    config_dict=merged.config, active_context=context, temp_file_path=folder
                )
                configuration = Configuration()
                loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
            except (ConfigException, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
                raise AccessError(f"{named}: {_one_line(exc)}") from None
            except OSError as exc:
                raise AccessError(f"{named}: {exc.strerror or exc}: {exc.filename}") from None
        current = loader.current_context
        user = loader._user  # the library keeps the resolved user only here
        credentials = Credentials(
            server=str(configuration.host or ""),
            namespace=str(current["context"].get("namespace") or "default"),
            authorization=_authorization(configuration),
            ca_pem=_read_text(configuration.ssl_ca_cert),
            certificate_pem=_read_bytes(configuration.cert_file),
            private_key_pem=_read_bytes(configuration.key_file),
            verify=bool(configuration.verify_ssl),
            tls_server_name=getattr(configuration, "tls_server_name", None),
            expires=_expiry(getattr(loader, "expiry", None)),
            source=f"{named} (context {current['name']})",
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not credentials.server:
        raise AccessError(f"{credentials.source}: the context's cluster names no server")
    if user and "exec" in user and not (credentials.authorization or credentials.private_key_pem):
        why = problems[-1] if problems else "no token or client certificate in its output"
        raise AccessError(f"{credentials.source}: the exec credential plugin failed: {why}")
    return credentials


@contextlib.contextmanager
def _library_errors() -> Iterator[list[str]]:
    """The library logs an exec plugin's failure (to the root logger) instead of raising:
    keep the message for one clear error instead of a stray log line."""
    problems: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        if "kubernetes" in record.pathname.replace(os.sep, "/").split("/"):
            problems.append(_one_line(record.getMessage()))
            return False
        return True

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield problems
    finally:
        root.removeFilter(keep)


def _authorization(configuration: Configuration) -> str | None:
    value = configuration.api_key.get("BearerToken") or configuration.api_key.get("authorization")
    if not value:
        return None
    scheme, _, token = str(value).partition(" ")
    if not token:
        return f"Bearer {scheme}"
    # RFC 7235 schemes are case-insensitive; the in-cluster loader writes "bearer".
    return f"{scheme.capitalize()} {token.strip()}"


def _read_text(path: str | None) -> str | None:
    return Path(path).read_text() if path else None


def _read_bytes(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def _expiry(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    aware: datetime = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware - EXPIRY_MARGIN


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


class Access:
    """The current credentials of one process; loaded again (in a thread) when they
    expire or after the API server answered 401."""

    def __init__(self, loader: Callable[[], Credentials], credentials: Credentials) -> None:
        self._loader = loader
        self._current = credentials
        self._stale = False
        self._loading: asyncio.Lock | None = None

    @classmethod
    def discover(cls, kubeconfig: str | None = None, **options: Any) -> "Access":
        """Load now (raising :class:`AccessError`), and the same way each time after."""

        def loader() -> Credentials:
            return load(kubeconfig, **options)

        return cls(loader, loader())

    @classmethod
    def fixed(cls, credentials: Credentials) -> "Access":
        """Credentials that never change (tests, an API server without authentication)."""
        return cls(lambda: credentials, credentials)

    @property
    def credentials(self) -> Credentials:
        """The credentials in use (maybe expired: :meth:`current` refreshes them)."""
        return self._current

    def invalidate(self) -> None:
        """The API server refused them (401): load them again before the next request."""
        self._stale = True

    async def current(self) -> Credentials:
        """Credentials good for the next request (one load at a time: the watches of all
        namespaces ask together when a token expires)."""
        if not (self._stale or self._current.expired()):
            return self._current
        self._loading = self._loading or asyncio.Lock()
        async with self._loading:
            if self._stale or self._current.expired():
                stale = self._stale
                self._stale = False
                try:
                    self._current = await asyncio.to_thread(self._loader)
                except BaseException:
                    self._stale = stale
                    raise
        return self._current
