"""What the wrk benchmarks share: cores, processes, ports, wrk passes, the run's frame.

``bench/issuance.py`` and ``bench/authz.py`` measure Gatekey the same way: every server
pinned to one core and wrk, the load generator, to another; a ceiling
(``bench/ceiling_server.py``) measured in the same run; passes interleaved across the
targets and the best kept, because a shared machine drifts between passes. This module
holds that method; each benchmark keeps its targets, its checks and its report.

Not a package module: the benchmarks run as scripts (``.venv/bin/python bench/x.py``),
which puts ``bench/`` first on ``sys.path``, and import it as ``harness``.
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NoReturn, TypeVar

BENCH_DIR = Path(__file__).resolve().parent
CEILING_SERVER = BENCH_DIR / "ceiling_server.py"
WRK_SCRIPT = BENCH_DIR / "wrk_pass.lua"
RESULT_MARKER = "GATEKEY_BENCH "
"""The line ``wrk_pass.lua`` prints from wrk's ``done()``."""

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class BenchFailure(Exception):
    """Something the figures depend on did not work; the message says what."""


# --- machine --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cores:
    """Where the servers and the load generator run; None when there is nothing to pin to."""

    server: int | None
    load: int | None

    def pin(self, core: int | None, argv: list[str]) -> list[str]:
        return argv if core is None else ["taskset", "-c", str(core), *argv]


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


def print_machine(cores: Cores, *versions: str) -> None:
    """Date, machine and pinning; ``versions`` of other servers go after Python's."""
    pinning = (
        "unpinned"
        if cores.server is None
        else f"servers on core {cores.server}, wrk on core {cores.load}"
    )
    print(f"date     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine  {os.cpu_count()} cores, {cpu_model()}, {platform.system()}")
    print(f"python   {', '.join([platform.python_version(), *versions, pinning])}")


# --- processes -------------------------------------------------------------------------


def basic(key: Mapping[str, str]) -> str:
    """The ``Authorization`` value for ``key``'s ``client_id`` and ``client_secret``
    (``client_secret_basic``, RFC 6749 §2.3.1; the bench's ids need no form-encoding)."""
    pair = f"{key['client_id']}:{key['client_secret']}".encode()
    return f"Basic {base64.b64encode(pair).decode()}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    stack: contextlib.ExitStack,
    argv: list[str],
    log: Path,
    port: int,
    timeout: float = START_TIMEOUT_S,
) -> subprocess.Popen[bytes]:
    """Start a server, stopped when ``stack`` closes, and wait until it accepts connections."""
    with log.open("ab") as err:
        # stdout to /dev/null: gatekey writes one audit line per request there, and a
        # pipe nobody reads would block it. A new session keeps Ctrl-C for the benchmark,
        # which then stops the servers itself, in order.
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    stack.callback(stop, proc)
    wait_until_listening(proc, port, log, timeout)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (every server here shuts down cleanly on it), SIGKILL if that takes too long."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until_listening(
    proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = START_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchFailure(f"{log.stem} server exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise BenchFailure(f"{log.stem} server did not listen on port {port}:\n{tail(log)}")


def tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def start_ceiling(
    stack: contextlib.ExitStack,
    work: Path,
    cores: Cores,
    handler: Literal["--form", "--nothing"],
) -> tuple[subprocess.Popen[bytes], int]:
    """``bench/ceiling_server.py`` with ``handler`` on the servers' core; it and its port."""
    port = free_port()
    argv = [sys.executable, str(CEILING_SERVER), handler, "--port", str(port)]
    return start(stack, cores.pin(cores.server, argv), work / "ceiling.log", port), port


# --- gatekey ---------------------------------------------------------------------------


def gatekey_command() -> str:
    """The ``gatekey`` script of the interpreter running this file (the project's venv)."""
    beside = Path(sys.executable).with_name("gatekey")
    found = str(beside) if beside.exists() else shutil.which("gatekey")
    if found is None:
        raise BenchFailure(
            "no gatekey command; run the bench with the project's .venv/bin/python"
            " (`make bench` installs the project)"
        )
    return found


@dataclass(frozen=True)
class Gatekey:
    """The ``gatekey`` command, and the manifests folder and state dir it runs on."""

    command: str
    manifests: Path
    state: Path

    @classmethod
    def prepare(cls, work: Path, manifests: str) -> "Gatekey":
        """Write ``manifests`` (YAML) to a folder under ``work``; the state dir comes later."""
        folder = work / "manifests"
        folder.mkdir()
        (folder / "bench.yaml").write_text(manifests)
        return cls(gatekey_command(), folder, work / "state")

    def show_key(self, proxy: str) -> dict[str, str]:
        """The proxy key of ``proxy`` (written to the state dir on first use)."""
        argv = [self.command, "show-key", proxy, "--manifests", str(self.manifests)]
        shown = subprocess.run(
            [*argv, "--state-dir", str(self.state)], capture_output=True, text=True, check=False
        )
        if shown.returncode != 0:
            raise BenchFailure(f"gatekey show-key failed:\n{shown.stderr}")
        key: dict[str, str] = json.loads(shown.stdout)
        return key

    def serve(
        self, stack: contextlib.ExitStack, work: Path, cores: Cores
    ) -> tuple[subprocess.Popen[bytes], int]:
        """``gatekey serve`` on the servers' core; it and its port."""
        port = free_port()
        argv = [self.command, "serve", "--manifests", str(self.manifests)]
        argv += ["--state-dir", str(self.state), "--port", str(port)]
        return start(stack, cores.pin(cores.server, argv), work / "gatekey.log", port), port


# --- load ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One URL under load, and the request wrk sends it on every connection."""

    label: str
    url: str
    headers: tuple[str, ...] = ()
    """``Name: value`` lines, passed to wrk's ``-H``."""
    form: str | None = None
    """A form body to POST; None for a GET."""
    connections: int | None = None
    """wrk's ``-c`` for this target instead of the load's: a slow endpoint (a password
    hash per request) needs a couple of requests in flight, not a queue past wrk's
    timeout."""
    warm_up_s: int = 1
    """The uncounted pass before the first counted one. A JIT-compiled peer needs more
    than a second: node's oidc-provider still went from 1.54 to 1.11 million instructions
    per request between its 2,000th and its 10,000th request
    (``bench/peer_instructions.py``)."""


@dataclass(frozen=True)
class WrkPass:
    """One wrk run, as ``wrk_pass.lua`` summarised it."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_200: int
    socket_errors: int

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True)
class Load:
    """How each target is loaded: the options every wrk benchmark takes."""

    rounds: int
    seconds: int
    connections: int
    per: str
    """What a pass is of ("endpoint", "target"), for the help and the progress header."""


def parse_load(description: str, per: str, rounds: int, seconds: int) -> Load:
    """The command line: ``--rounds``, ``--seconds`` and ``--connections``, with defaults."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--rounds", type=int, default=rounds, help=f"passes per {per} (default {rounds})"
    )
    parser.add_argument(
        "--seconds", type=int, default=seconds, help=f"length of a pass (default {seconds})"
    )
    parser.add_argument("--connections", type=int, default=50, help="wrk -c (default 50)")
    args = parser.parse_args()
    return Load(args.rounds, args.seconds, args.connections, per)


def run_wrk(target: Target, cores: Cores, seconds: int, connections: int) -> WrkPass:
    """One pass of wrk on the load core; its summary, or BenchFailure without one."""
    connections = target.connections or connections
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(WRK_SCRIPT)]
    for header in target.headers:
        argv += ["-H", header]
    argv.append(target.url)
    if target.form is not None:
        argv += ["--", target.form]
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
            return WrkPass(
                requests=figures["requests"],
                seconds=figures["duration_us"] / 1e6,
                p50_ms=figures["p50_us"] / 1000,
                p99_ms=figures["p99_us"] / 1000,
                non_200=figures["non_200"],
                socket_errors=figures["socket_errors"],
            )
    raise BenchFailure(f"wrk gave no figures for {target.label}:\n{done.stdout}{done.stderr}")


T = TypeVar("T", bound=Target)
P = TypeVar("P", bound=WrkPass)


def measure(
    targets: Sequence[T],
    load: Load,
    run: Callable[[T, int], P],
    width: int,
    detail: Callable[[P], str] = lambda _: "",
) -> dict[str, list[P]]:
    """Interleaved passes, so that a slow minute on the machine hurts every target alike.

    ``run(target, seconds)`` makes one pass; each prints a progress line, the label
    padded to ``width``, then the req/s, then ``detail(pass)``.
    """
    print(
        f"\nwrk -t1 -c{load.connections} -d{load.seconds}s, {load.rounds} interleaved"
        f" passes per {load.per} (best kept), after an uncounted warm-up pass:"
    )
    for target in targets:
        # Warm-up, not counted: first connections, and whatever a server does once
        # (key parsing, SQLite pages, a token into Gatekey's cache, a JIT's compiling).
        run(target, target.warm_up_s)
    passes: dict[str, list[P]] = {t.label: [] for t in targets}
    for round_no in range(1, load.rounds + 1):
        for target in targets:
            result = run(target, load.seconds)
            passes[target.label].append(result)
            print(
                f"  pass {round_no}/{load.rounds}  {target.label:<{width}}"
                f" {result.requests_per_s:>9,.0f}{detail(result)}"
            )
    return passes


def best(runs: list[P]) -> P:
    return max(runs, key=lambda p: p.requests_per_s)


# --- the run ---------------------------------------------------------------------------


def on_sigterm(signum: int, frame: object) -> NoReturn:
    # SystemExit unwinds the ExitStack, which stops the servers and removes the temp dir.
    raise SystemExit(128 + signum)


def stop_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)


@contextlib.contextmanager
def workspace() -> Iterator[tuple[contextlib.ExitStack, Path]]:
    """A temp dir and a stack of servers; servers stop before the directory goes."""
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gatekey-bench-")))
        yield stack, work


@contextlib.contextmanager
def exit_on_failure() -> Iterator[None]:
    """Exit 1 on BenchFailure, with its message, and 130 on Ctrl-C.

    Put it around ``workspace()``: by the time it reports, the servers have stopped.
    """
    try:
        yield
    except BenchFailure as failure:
        print(f"bench: {failure}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("\nbench: interrupted; servers stopped", file=sys.stderr)
        raise SystemExit(130) from None


def exit_status(passes: dict[str, list[P]]) -> int:
    """1 when any response was not 200: the figures would then measure errors."""
    if any(p.non_200 for runs in passes.values() for p in runs):
        print("bench: some responses were not 200; these figures are not valid", file=sys.stderr)
        return 1
    return 0
