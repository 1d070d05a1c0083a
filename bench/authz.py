"""``/authz`` throughput against an aiohttp ceiling, and nginx in front, in one run (DESIGN §7).

Not part of ``make test``; run it by hand: ``.venv/bin/python bench/authz.py``. On a
machine with two cores or more, every server runs pinned to one core and wrk, the load
generator, to another, so that the two never compete. One run measures:

* (a) the ceiling: ``bench/authz_ceiling.py``, an aiohttp + uvloop GET handler that does
  nothing;
* (b) ``gatekey serve``, ``GET /authz`` with a valid ES256 JWT and ``X-Gatekey-Proxy``:
  after the first request the verified token is cached, which is the path every
  request of a client that reuses its token takes;
* (c) nginx ``auth_request`` -> Gatekey's ``/authz`` -> a static backend (an nginx
  ``return 200``), with the configuration docs/gateways.md shows and the tests run
  (``tests/gateways/configs.py``);
* (d) the same nginx, straight to the same backend, without ``auth_request``.

The passes are interleaved (a, b, c, d, a, ...) and the best of each is kept, because a
shared machine drifts between passes (here, up to twice as fast from one pass to the
next). Printed: the table, (b)/(a) against the goal, (c)/(d) (what forward auth costs an
nginx-fronted API) and (c)/(b) (how much of Gatekey's own /authz rate survives the trip
through nginx), best over best and round by round. Nothing is asserted on time.

Exit status: 0 when every measurement ran, 1 when a server did not start or a response
was not 200 (the figures would then measure errors), 2 without wrk or nginx.
"""

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WRK_SCRIPT = BENCH_DIR / "authz_get.lua"
CEILING_SERVER = BENCH_DIR / "authz_ceiling.py"
RESULT_MARKER = "GATEKEY_BENCH "
"""The line ``authz_get.lua`` prints from wrk's ``done()``."""

AUTHZ_GOAL = 0.6
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
API_PATH = "/orders/7"

MANIFESTS = """\
apiVersion: gatekey.io/v1alpha1
kind: AuthPolicy
metadata: {name: orders-jwt}
spec:
  type: JWT
  management: Policy
  targetRef: {kind: ApiProxy, name: orders}
  grantTypes: [client_credentials]
  token: {algorithm: ES256}
"""

# The harness around the documented site (tests/gateways/configs.py NGINX_SITE): one
# foreground process with one worker, like every other server here; the straight server
# proxies exactly as the documented one does, minus auth_request, so that the ratio
# (c)/(d) is the cost of forward auth alone; the backend is nginx's cheapest answer.
NGINX_MAIN = """\
daemon off;
master_process off;
worker_processes 1;
pid nginx.pid;
error_log error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;

    include site.conf;

    server {
        listen 127.0.0.1:STRAIGHT_PORT;
        location / {
            proxy_pass http://orders_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }

    server {
        listen 127.0.0.1:BACKEND_PORT;
        location / {
            return 200 "ok\\n";
        }
    }
}
"""


class BenchFailure(Exception):
    """Something the figures depend on did not work; the message says what."""


@dataclass(frozen=True)
class Cores:
    """Where the servers and the load generator run; None when there is nothing to pin to."""

    server: int | None
    load: int | None

    def pin(self, core: int | None, argv: list[str]) -> list[str]:
        return argv if core is None else ["taskset", "-c", str(core), *argv]


@dataclass(frozen=True)
class Target:
    """One endpoint under load: its URL and the headers every request carries."""

    label: str
    url: str
    headers: tuple[str, ...]


@dataclass(frozen=True)
class Pass:
    """One wrk run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_200: int
    socket_errors: int


# --- machine --------------------------------------------------------------------------


def pick_cores() -> Cores:
    """Two distinct cores when the machine has them and taskset exists, else no pinning."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or shutil.which("taskset") is None:
        print("warning: fewer than 2 cores or no taskset; servers and wrk share the CPU")
        return Cores(None, None)
    return Cores(server=cores[0], load=cores[1])


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def nginx_version(nginx: str) -> str:
    shown = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
    return (shown.stderr or shown.stdout).strip().removeprefix("nginx version: ")


def print_machine(cores: Cores, nginx: str) -> None:
    pinning = (
        "unpinned"
        if cores.server is None
        else f"servers on core {cores.server}, wrk on core {cores.load}"
    )
    print(f"date     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine  {os.cpu_count()} cores, {cpu_model()}, {platform.system()}")
    print(f"python   {platform.python_version()}, {nginx_version(nginx)}, {pinning}")


# --- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    stack: contextlib.ExitStack, argv: list[str], log: Path, port: int
) -> subprocess.Popen[bytes]:
    """Start a server, stopped when ``stack`` closes, and wait until it accepts connections."""
    with log.open("ab") as err:
        # stdout to /dev/null: gatekey writes one audit line per token request there, and a
        # pipe nobody reads would block it. A new session keeps Ctrl-C for this script,
        # which then stops the servers itself, in order.
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    stack.callback(stop, proc)
    wait_until_listening(proc, port, log)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (every server here shuts down on it), SIGKILL if that takes too long."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchFailure(f"{log.stem} exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise BenchFailure(f"{log.stem} did not listen on port {port}:\n{tail(log)}")


def tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def gatekey_command() -> str:
    """The ``gatekey`` script of the interpreter running this file (the project's venv)."""
    beside = Path(sys.executable).with_name("gatekey")
    found = str(beside) if beside.exists() else shutil.which("gatekey")
    if found is None:
        raise BenchFailure("no gatekey command; run it with the project's .venv/bin/python")
    return found


def documented_nginx_site() -> tuple[str, Callable[..., str]]:
    """NGINX_SITE and ``render`` from tests/gateways/configs.py: the configuration the
    tests run and docs/gateways.md shows. The repository goes last on sys.path, so that
    its ``operator`` folder can never shadow the standard library's."""
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))
    from tests.gateways.configs import NGINX_SITE, render

    return NGINX_SITE, render


# --- the servers -----------------------------------------------------------------------


def issue_jwt(gatekey: str, url: str, manifests: Path, state: Path) -> str:
    """An access token for ApiProxy/orders, with the proxy key ``gatekey show-key`` prints."""
    argv = [gatekey, "show-key", "ApiProxy/orders", "--manifests", str(manifests)]
    shown = subprocess.run(
        [*argv, "--state-dir", str(state)], capture_output=True, text=True, check=False
    )
    if shown.returncode != 0:
        raise BenchFailure(f"gatekey show-key failed:\n{shown.stderr}")
    key = json.loads(shown.stdout)
    form = urllib.parse.urlencode({"grant_type": "client_credentials", **key}).encode()
    try:
        with urllib.request.urlopen(f"{url}/auth/jwt", form, timeout=5) as response:
            return str(json.loads(response.read())["access_token"])
    except urllib.error.HTTPError as exc:
        raise BenchFailure(f"POST /auth/jwt: HTTP {exc.code} {exc.read()[:300]!r}") from None


def start_servers(
    stack: contextlib.ExitStack, work: Path, cores: Cores, nginx: str
) -> list[Target]:
    """The ceiling, ``gatekey serve`` and nginx; the four targets to load."""
    manifests, state = work / "manifests", work / "state"
    manifests.mkdir()
    (manifests / "orders.yaml").write_text(MANIFESTS)
    gatekey = gatekey_command()
    ceiling_port, gatekey_port = free_port(), free_port()
    auth_port, straight_port, backend_port = free_port(), free_port(), free_port()

    ceiling_argv = [sys.executable, str(CEILING_SERVER), "--port", str(ceiling_port)]
    start(stack, cores.pin(cores.server, ceiling_argv), work / "ceiling.log", ceiling_port)
    serve_argv = [gatekey, "serve", "--manifests", str(manifests), "--state-dir", str(state)]
    serve_argv += ["--port", str(gatekey_port)]
    start(stack, cores.pin(cores.server, serve_argv), work / "gatekey.log", gatekey_port)

    site, render = documented_nginx_site()
    prefix = work / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    (prefix / "site.conf").write_text(
        render(
            site,
            ISSUER_HOST="127.0.0.1",
            ISSUER_PORT=gatekey_port,
            BACKEND_HOST="127.0.0.1",
            BACKEND_PORT=backend_port,
            LISTEN_HOST="127.0.0.1",
            LISTEN_PORT=auth_port,
        )
    )
    main_conf = NGINX_MAIN.replace("STRAIGHT_PORT", str(straight_port))
    (prefix / "nginx.conf").write_text(main_conf.replace("BACKEND_PORT", str(backend_port)))
    nginx_argv = [nginx, "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "error.log"]
    start(stack, cores.pin(cores.server, nginx_argv), work / "nginx.log", auth_port)

    base = f"http://127.0.0.1:{gatekey_port}"
    token = issue_jwt(gatekey, base, manifests, state)
    direct = (f"Authorization: Bearer {token}", "X-Gatekey-Proxy: orders")
    # Through nginx the client sends only its token; nginx adds X-Gatekey-Proxy itself.
    client = (f"Authorization: Bearer {token}",)
    return [
        Target("(a) ceiling: aiohttp GET", f"http://127.0.0.1:{ceiling_port}/authz", direct),
        Target("(b) gatekey GET /authz", f"{base}/authz", direct),
        Target("(c) nginx auth_request", f"http://127.0.0.1:{auth_port}{API_PATH}", client),
        Target("(d) nginx straight", f"http://127.0.0.1:{straight_port}{API_PATH}", client),
    ]


def get(url: str, headers: tuple[str, ...]) -> tuple[int, dict[str, str]]:
    pairs = dict(h.split(": ", 1) for h in headers)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=pairs), timeout=5) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def check_answers(targets: list[Target]) -> None:
    """One request by hand each: every target answers 200, Gatekey with the identity, and
    nginx's auth server really asks Gatekey (401 without a token), so that the figures
    measure what they claim to."""
    for target in targets:
        status, headers = get(target.url, target.headers)
        if status != 200:
            raise BenchFailure(f"{target.label}: HTTP {status}")
        if "gatekey" in target.label and "X-Authenticated-ClientId" not in headers:
            raise BenchFailure(f"{target.label}: 200 without the identity headers")
    auth = next(t for t in targets if "auth_request" in t.label)
    status, _ = get(auth.url, ())
    if status != 401:
        raise BenchFailure(f"{auth.label} without a token: HTTP {status}, not 401")


# --- load ------------------------------------------------------------------------------


def run_wrk(target: Target, cores: Cores, seconds: int, connections: int) -> Pass:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(WRK_SCRIPT)]
    argv += [target.url, "--", *target.headers]
    done = subprocess.run(
        cores.pin(cores.load, argv),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            figures = json.loads(line.removeprefix(RESULT_MARKER))
            return Pass(
                requests_per_s=figures["requests"] / (figures["duration_us"] / 1e6),
                p50_ms=figures["p50_us"] / 1000,
                p99_ms=figures["p99_us"] / 1000,
                non_200=figures["non_200"],
                socket_errors=figures["socket_errors"],
            )
    raise BenchFailure(f"wrk gave no figures for {target.label}:\n{done.stdout}{done.stderr}")


def measure(
    targets: list[Target], cores: Cores, rounds: int, seconds: int, connections: int
) -> dict[str, list[Pass]]:
    """Interleaved passes, so that a slow minute on the machine hurts every target alike."""
    for target in targets:
        # Warm-up: first connections, the JWT into Gatekey's cache; not counted.
        run_wrk(target, cores, 1, connections)
    passes: dict[str, list[Pass]] = {t.label: [] for t in targets}
    for round_no in range(1, rounds + 1):
        for target in targets:
            result = run_wrk(target, cores, seconds, connections)
            passes[target.label].append(result)
            print(f"  pass {round_no}/{rounds}  {target.label:<26} {result.requests_per_s:>9,.0f}")
    return passes


# --- report ----------------------------------------------------------------------------


def best(passes: list[Pass]) -> Pass:
    return max(passes, key=lambda p: p.requests_per_s)


def print_table(passes: dict[str, list[Pass]]) -> None:
    print(
        f"\n{'target':<26} {'best req/s':>10} {'µs/req':>7} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'non-200':>8} {'sock err':>8}   all passes (req/s)"
    )
    for label, runs in passes.items():
        top = best(runs)
        every = " ".join(f"{p.requests_per_s:,.0f}" for p in runs)
        print(
            f"{label:<26} {top.requests_per_s:>10,.0f} {1e6 / top.requests_per_s:>7.1f}"
            f" {top.p50_ms:>7.2f} {top.p99_ms:>7.2f} {sum(p.non_200 for p in runs):>8}"
            f" {sum(p.socket_errors for p in runs):>8}   {every}"
        )


RATIOS = (
    ("(b)/(a) /authz / ceiling", 1, 0, AUTHZ_GOAL),
    ("(c)/(d) nginx with auth_request / without", 2, 3, None),
    ("(c)/(b) nginx with auth_request / /authz", 2, 1, None),
)
"""Label, numerator and denominator (indexes of the targets), goal."""


def print_ratios(passes: dict[str, list[Pass]]) -> None:
    """Best over best, and each round's own ratio: passes of one round ran within seconds
    of each other, so a round's ratio is the least disturbed by the machine's drift."""
    runs = list(passes.values())
    tops = [best(r).requests_per_s for r in runs]
    print(f"\n{'ratio':<44} {'best':>6} {'goal':>8}          per round")
    for label, num, den, goal in RATIOS:
        value = tops[num] / tops[den]
        rounds = " ".join(
            f"{n.requests_per_s / d.requests_per_s:.2f}"
            for n, d in zip(runs[num], runs[den], strict=True)
        )
        target = f">= {goal}" if goal else ""
        verdict = ("met" if value >= goal else "missed") if goal else ""
        print(f"{label:<44} {value:>6.2f} {target:>8} {verdict:>8}   {rounds}")


# --- main ------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Many short passes rather than a few long ones: on a shared VM one pass can run at half
    # the speed of the next, and the best of eight 3 s passes repeats from run to run where
    # the best of three 5 s passes did not.
    parser.add_argument("--rounds", type=int, default=8, help="passes per target (default 8)")
    parser.add_argument("--seconds", type=int, default=3, help="length of a pass (default 3)")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c (default 50)")
    return parser.parse_args()


def on_sigterm(signum: int, frame: object) -> NoReturn:
    # SystemExit unwinds the ExitStack, which stops the servers and removes the temp dir.
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def workspace() -> Iterator[tuple[contextlib.ExitStack, Path]]:
    """A temp dir and a stack of servers; servers stop before the directory goes."""
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gatekey-bench-")))
        yield stack, work


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    # Debian puts nginx in /usr/sbin, which a non-root PATH may lack.
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    missing = [name for name, path in (("wrk", shutil.which("wrk")), ("nginx", nginx)) if not path]
    if nginx is None or missing:
        print(f"bench: {' and '.join(missing)} missing; as root: scripts/install-tools.sh --bench")
        return 2
    cores = pick_cores()
    print_machine(cores, nginx)
    try:
        with workspace() as (stack, work):
            targets = start_servers(stack, work, cores, nginx)
            check_answers(targets)
            print(
                f"\nwrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} interleaved"
                " passes per target (best kept), after a 1 s warm-up:"
            )
            passes = measure(targets, cores, args.rounds, args.seconds, args.connections)
    except BenchFailure as failure:
        print(f"bench: {failure}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbench: interrupted; servers stopped", file=sys.stderr)
        return 130
    print_table(passes)
    print_ratios(passes)
    if any(p.non_200 for runs in passes.values() for p in runs):
        print("bench: some responses were not 200; these figures are not valid", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
