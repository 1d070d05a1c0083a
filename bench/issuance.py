"""Token issuance throughput against an aiohttp ceiling measured in the same run (DESIGN §7).

``make bench`` runs this. On a machine with two cores or more, each server runs
pinned to one core and wrk, the load generator, to another, so that the two never
compete. One run measures:

* the ceiling: ``bench/ceiling_server.py``, an aiohttp + uvloop handler that only
  parses a form body and answers a small JSON object;
* ``POST /auth/jwt``: ``gatekey serve`` issuing ES256 JWT access tokens;
* ``POST /auth/token``: the same server issuing opaque tokens (stored in SQLite);

each with ``grant_type=client_credentials`` and ``client_secret_basic``. The passes
are interleaved (ceiling, JWT, opaque, ceiling, ...) and the best of each is kept,
because a shared machine drifts by 20-30% between passes. Each pass also records the
CPU time the server process used: requests per server CPU-second stay comparable
when other work on the machine takes part of the server's core, which req/s do not.
The ratios issuer/ceiling are printed against the goals; nothing is asserted on
time. Before the HTTP passes, an in-process figure compares one JWT signature by
Gatekey's ``JwtSigner`` with a bare ``cryptography`` ECDSA P-256 signature, to tell
signing apart from the rest. Figures and their reading: docs/performance.md.

Exit status: 0 when every measurement ran, 1 when a server did not start or a
response was not 200 (the figures would then measure errors), 2 without wrk.
"""

import argparse
import base64
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
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gatekey.issuer.tokens.jwt_signer import ACCESS_TOKEN_TYP, JwtSigner
from gatekey.operator.entropy import SystemEntropy
from gatekey.operator.signing_keys import SigningKey

BENCH_DIR = Path(__file__).resolve().parent
WRK_SCRIPT = BENCH_DIR / "post_form.lua"
CEILING_SERVER = BENCH_DIR / "ceiling_server.py"
RESULT_MARKER = "GATEKEY_BENCH "
"""The line ``post_form.lua`` prints from wrk's ``done()``."""

FORM_BODY = "grant_type=client_credentials"
JWT_GOAL = 0.5
OPAQUE_GOAL = 0.75
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
FULL_CORE = 0.9
"""A server that used less of its core than this during a pass shared it, or waited on I/O."""

CEILING = "ceiling (form parse + JSON)"
JWT = "POST /auth/jwt (ES256 JWT)"
OPAQUE = "POST /auth/token (opaque)"

MANIFESTS = """\
apiVersion: gatekey.io/v1alpha1
kind: AuthPolicy
metadata: {name: bench-jwt}
spec:
  type: JWT
  management: Policy
  targetRef: {kind: ApiProxy, name: bench}
  grantTypes: [client_credentials]
  token: {algorithm: ES256}
---
apiVersion: gatekey.io/v1alpha1
kind: AuthPolicy
metadata: {name: bench-oauth2}
spec:
  type: OAuth2
  management: Policy
  targetRef: {kind: ApiProxy, name: bench}
  grantTypes: [client_credentials]
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
    """One endpoint under load, and how to ask it for a token."""

    label: str
    url: str
    authorization: str
    expects_token: bool
    server_pid: int


@dataclass(frozen=True)
class Pass:
    """One wrk run, and the CPU time the server spent on it."""

    requests: int
    seconds: float
    server_cpu_s: float
    p50_ms: float
    p99_ms: float
    non_200: int
    socket_errors: int

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def server_share(self) -> float:
        """Fraction of one core the server used: well under 1 when another process took
        the rest, or when the server's event loop waited on I/O (SQLite)."""
        return self.server_cpu_s / self.seconds

    @property
    def per_cpu_s(self) -> float:
        """Requests per CPU-second of the server: what a core costs, whoever else ran."""
        return self.requests / self.server_cpu_s if self.server_cpu_s else 0.0


# --- machine --------------------------------------------------------------------------


def pick_cores() -> Cores:
    """Two distinct cores when the machine has them and taskset exists, else no pinning."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or shutil.which("taskset") is None:
        print("warning: fewer than 2 cores or no taskset; server and wrk share the CPU")
        return Cores(None, None)
    return Cores(server=cores[0], load=cores[1])


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads (proc(5): fields 14, 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_busy(seconds: float = 1.0) -> dict[str, float]:
    """Per core, the busy fraction over ``seconds`` (from /proc/stat), before we add load."""

    def sample() -> dict[str, list[int]]:
        lines = Path("/proc/stat").read_text().splitlines()
        return {
            f[0]: [int(v) for v in f[1:]]
            for f in (line.split() for line in lines)
            if f[0].startswith("cpu") and f[0] != "cpu"
        }

    before = sample()
    time.sleep(seconds)
    after = sample()
    busy = {}
    for cpu, start in before.items():
        delta = [b - a for a, b in zip(start, after[cpu], strict=True)]
        idle = delta[3] + delta[4]  # idle + iowait
        busy[cpu] = 1 - idle / (sum(delta) or 1)
    return busy


def print_machine(cores: Cores) -> None:
    pinning = (
        "unpinned"
        if cores.server is None
        else f"servers on core {cores.server}, wrk on core {cores.load}"
    )
    print(f"date     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine  {os.cpu_count()} cores, {cpu_model()}, {platform.system()}")
    print(f"python   {platform.python_version()}, {pinning}")
    busy = core_busy()
    shown = ", ".join(f"{cpu} {fraction:.0%}" for cpu, fraction in busy.items())
    print(f"idle?    busy before start: {shown}")
    if max(busy.values()) > 0.1:
        # Interleaving and best-of-N help against drift, not against a steady neighbour.
        print("warning: the machine is already busy; req/s will be low, per CPU-second less so")


# --- in-process micro-figure: one JWT signature -----------------------------------------


def best_us_per_call(fn: Callable[[], object], batch: int = 1000, batches: int = 7) -> float:
    """CPU microseconds per call, best batch.

    Thread CPU time, not wall time: on a shared core, the time another process holds
    the core is not charged to us (its cache traffic still is; best-of-N trims that).
    """
    best = float("inf")
    for _ in range(batches):
        started = time.thread_time()
        for _ in range(batch):
            fn()
        best = min(best, (time.thread_time() - started) / batch)
    return best * 1e6


def sign_figures() -> dict[str, float]:
    """µs per ES256 signature: bare cryptography, a hand-made compact JWS, Gatekey's signer."""
    now = datetime.now(UTC)
    jwk = SystemEntropy().signing_key("ES256")
    key = SigningKey(kid=jwk["kid"], alg="ES256", created_at=now, not_before=now, jwk=jwk)
    private_key = jwt.PyJWK(jwk, algorithm="ES256").key
    claims = sample_claims()
    header = {"alg": "ES256", "kid": key.kid, "typ": ACCESS_TOKEN_TYP}
    signing_input = f"{b64_json(header)}.{b64_json(claims)}".encode()
    ecdsa = ec.ECDSA(hashes.SHA256())

    def by_hand() -> str:
        # The least a compact ES256 JWS can cost in Python: JSON, base64url, sign,
        # DER -> r||s (RFC 7518 §3.4).
        signed = f"{b64_json(header)}.{b64_json(claims)}"
        r, s = decode_dss_signature(private_key.sign(signed.encode(), ecdsa))
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signed}.{b64url(raw)}"

    signer = JwtSigner()
    return {
        "cryptography ECDSA P-256 sign (bytes in, DER out)": best_us_per_call(
            lambda: private_key.sign(signing_input, ecdsa)
        ),
        "compact JWS by hand (JSON + base64url + sign)": best_us_per_call(by_hand),
        "gatekey JwtSigner.sign (PyJWT)": best_us_per_call(lambda: signer.sign(claims, key)),
    }


def sample_claims() -> dict[str, Any]:
    """The claims ``Minter`` puts in a client_credentials JWT, with realistic sizes."""
    iat = int(time.time())
    return {
        "iss": "http://127.0.0.1:8080/auth",
        "sub": "eT2KXeqBJN5NSOOq",
        "aud": ["ApiProxy/bench"],
        "client_id": "eT2KXeqBJN5NSOOq",
        "iat": iat,
        "nbf": iat,
        "jti": "ZadxOHstP6540VHbL8HwsA",
        "exp": iat + 3600,
    }


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(value: object) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def measure_signing(cores: Cores) -> dict[str, float]:
    """The sign figures, on the core the servers will use, so they compare with them."""
    before = os.sched_getaffinity(0)
    if cores.server is not None:
        os.sched_setaffinity(0, {cores.server})
    try:
        return sign_figures()
    finally:
        os.sched_setaffinity(0, before)


# --- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(stack: contextlib.ExitStack, argv: list[str], log: Path, port: int) -> int:
    """Start a server, stopped when ``stack`` closes, and wait until it accepts connections."""
    with log.open("wb") as err:
        # stdout to /dev/null: gatekey writes one audit line per request there, and a
        # pipe nobody reads would block it. A new session keeps Ctrl-C for this script,
        # which then stops the servers itself, in order.
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    stack.callback(stop, proc)
    wait_until_listening(proc, port, log)
    # taskset execs the server, so this pid is the server's own (for its CPU time).
    return proc.pid


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (both servers shut down cleanly on it), SIGKILL if that takes too long."""
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
            raise BenchFailure(f"{log.stem} server exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise BenchFailure(f"{log.stem} server did not listen on port {port}:\n{tail(log)}")


def tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def gatekey_command() -> str:
    """The ``gatekey`` script of the interpreter running this file (the project's venv)."""
    beside = Path(sys.executable).with_name("gatekey")
    found = str(beside) if beside.exists() else shutil.which("gatekey")
    if found is None:
        raise BenchFailure("no gatekey command; run `make bench` (it installs the project)")
    return found


def proxy_key(gatekey: str, manifests: Path, state: Path) -> str:
    """The Basic header of ApiProxy/bench's proxy key (written to ``state`` on first use)."""
    argv = [gatekey, "show-key", "ApiProxy/bench", "--manifests", str(manifests)]
    shown = subprocess.run(
        [*argv, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        check=False,
    )
    if shown.returncode != 0:
        raise BenchFailure(f"gatekey show-key failed:\n{shown.stderr}")
    key = json.loads(shown.stdout)
    pair = f"{key['client_id']}:{key['client_secret']}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def start_servers(stack: contextlib.ExitStack, work: Path, cores: Cores) -> list[Target]:
    """The ceiling and ``gatekey serve`` on the bench manifests; the targets to load."""
    manifests, state = work / "manifests", work / "state"
    manifests.mkdir()
    (manifests / "bench.yaml").write_text(MANIFESTS)
    gatekey = gatekey_command()
    # Before serve, so that both read the same proxy key from the same state dir.
    authorization = proxy_key(gatekey, manifests, state)

    ceiling_port, gatekey_port = free_port(), free_port()
    ceiling_argv = [sys.executable, str(CEILING_SERVER), "--port", str(ceiling_port)]
    ceiling = start(
        stack, cores.pin(cores.server, ceiling_argv), work / "ceiling.log", ceiling_port
    )
    serve_argv = [gatekey, "serve", "--manifests", str(manifests), "--state-dir", str(state)]
    serve_argv += ["--port", str(gatekey_port)]
    issuer = start(stack, cores.pin(cores.server, serve_argv), work / "gatekey.log", gatekey_port)

    base = f"http://127.0.0.1:{gatekey_port}"
    return [
        Target(CEILING, f"http://127.0.0.1:{ceiling_port}/token", "", False, ceiling),
        Target(JWT, f"{base}/auth/jwt", authorization, True, issuer),
        Target(OPAQUE, f"{base}/auth/token", authorization, True, issuer),
    ]


# --- load ------------------------------------------------------------------------------


def check_answers(target: Target) -> None:
    """One request by hand: a 200, with an access_token where a token is expected."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if target.authorization:
        headers["Authorization"] = target.authorization
    request = urllib.request.Request(target.url, FORM_BODY.encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise BenchFailure(f"{target.label}: HTTP {exc.code} {exc.read()[:300]!r}") from None
    if target.expects_token and not body.get("access_token"):
        raise BenchFailure(f"{target.label}: 200 without an access_token: {body}")


def run_wrk(target: Target, cores: Cores, seconds: int, connections: int) -> Pass:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(WRK_SCRIPT)]
    argv += [target.url, "--", target.authorization, FORM_BODY]
    try:
        cpu_before = process_cpu_seconds(target.server_pid)
        done = subprocess.run(
            cores.pin(cores.load, argv),
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=False,
        )
        server_cpu_s = process_cpu_seconds(target.server_pid) - cpu_before
    except OSError:
        raise BenchFailure(f"{target.label}: the server process is gone") from None
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            figures = json.loads(line.removeprefix(RESULT_MARKER))
            return Pass(
                requests=figures["requests"],
                seconds=figures["duration_us"] / 1e6,
                server_cpu_s=server_cpu_s,
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
        # Warm-up: first connections, key parsing, SQLite pages; not counted.
        run_wrk(target, cores, 1, connections)
    passes: dict[str, list[Pass]] = {t.label: [] for t in targets}
    for round_no in range(1, rounds + 1):
        for target in targets:
            result = run_wrk(target, cores, seconds, connections)
            passes[target.label].append(result)
            print(
                f"  pass {round_no}/{rounds}  {target.label:<28} {result.requests_per_s:>9,.0f}"
                f" req/s, server CPU {result.server_share:>4.0%}"
            )
    return passes


# --- report ----------------------------------------------------------------------------


def print_signing(figures: dict[str, float]) -> None:
    print("\nOne ES256 signature, in process, CPU time on the servers' core (best of 7 x 1000):")
    for label, micros in figures.items():
        print(f"  {label:<52} {micros:6.1f} µs  ({1e6 / micros:>8,.0f}/s)")


def print_table(passes: dict[str, list[Pass]]) -> None:
    print(
        f"\n{'endpoint':<28} {'best req/s':>10} {'server CPU':>10} {'req/CPU-s':>10}"
        f" {'µs CPU/req':>10} {'p50 ms':>7} {'p99 ms':>7} {'non-200':>7} {'sock err':>8}"
    )
    for label, runs in passes.items():
        top = max(runs, key=lambda p: p.requests_per_s)
        per_cpu = max(p.per_cpu_s for p in runs)
        print(
            f"{label:<28} {top.requests_per_s:>10,.0f} {top.server_share:>10.0%} {per_cpu:>10,.0f}"
            f" {1e6 / per_cpu:>10.1f} {top.p50_ms:>7.2f} {top.p99_ms:>7.2f}"
            f" {sum(p.non_200 for p in runs):>7} {sum(p.socket_errors for p in runs):>8}"
        )
    print("(best of the passes; req/CPU-s: requests per CPU-second of the server process)")
    print("every pass, req/s (server CPU):")
    for label, runs in passes.items():
        every = "  ".join(f"{p.requests_per_s:>7,.0f} ({p.server_share:>4.0%})" for p in runs)
        print(f"  {label:<28} {every}")


def print_ratios(passes: dict[str, list[Pass]]) -> None:
    ceiling = passes[CEILING]
    print(f"\n{'ratio':<18} {'req/s':>6} {'req/CPU-s':>10} {'goal':>8}")
    for label, runs, goal in (
        ("JWT / ceiling", passes[JWT], JWT_GOAL),
        ("opaque / ceiling", passes[OPAQUE], OPAQUE_GOAL),
    ):
        by_rate = best_rate(runs) / best_rate(ceiling)
        by_cpu = best_per_cpu(runs) / best_per_cpu(ceiling)
        verdict = "met" if by_rate >= goal else "missed"
        print(f"{label:<18} {by_rate:>6.2f} {by_cpu:>10.2f} {f'>= {goal:.2f}':>8}  {verdict}")
    if max(ceiling, key=lambda p: p.requests_per_s).server_share < FULL_CORE:
        # Then the ceiling's req/s is low and every req/s ratio too flattering.
        print(
            "warning: the ceiling did not get a full core (another process ran on it);"
            " trust the req/CPU-s ratios of this run, not the req/s ones"
        )


def best_rate(runs: list[Pass]) -> float:
    return max(p.requests_per_s for p in runs)


def best_per_cpu(runs: list[Pass]) -> float:
    return max(p.per_cpu_s for p in runs)


# --- main ------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes per endpoint (default 3)")
    parser.add_argument("--seconds", type=int, default=5, help="length of a pass (default 5)")
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
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed; install it (Debian: apt-get install -y wrk)")
        return 2
    cores = pick_cores()
    print_machine(cores)
    try:
        print_signing(measure_signing(cores))
        with workspace() as (stack, work):
            targets = start_servers(stack, work, cores)
            for target in targets:
                check_answers(target)
            print(
                f"\nwrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} interleaved"
                " passes per endpoint (best kept), after a 1 s warm-up:"
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
