"""Where the microseconds of one request go: py-spy under wrk load, per endpoint
(docs/performance.md, "Profiles").

Run: ``.venv/bin/python bench/profile.py [--seconds 10] [--rate 250] [jwt opaque authz
routes]``. For each endpoint, ``gatekey serve`` runs pinned to one core and wrk loads it
from another, as in ``bench/issuance.py`` and ``bench/authz.py``. A first wrk pass
without the profiler gives the server's CPU time per request (from ``/proc``); a second
one runs under ``py-spy record --nonblocking`` (py-spy is a development dependency).
Printed per endpoint: the µs of CPU per request, then the share of samples and the µs
per request of

* each of Gatekey's functions, inclusive (a function counts once per sample however
  deep it recurs), the largest first;
* each function where samples end (self time), whichever package it is in;
* the samples with no Gatekey frame at all: aiohttp and uvloop reading, parsing and
  writing HTTP outside Gatekey's handler, which the ceiling pays as well.

A sampling profiler charges a function for the samples taken while it runs: shares
under about 1% (a few dozen samples) are noise. ``--nonblocking`` does not stop the
process to read its stack, so it neither slows the server nor inflates system calls,
at the price of an occasional torn stack (counted under its leaf).
"""

import argparse
import contextlib
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import authz
import harness
import issuance

ISSUER = ("(issuer/", "/issuer/")
"""Gatekey's frames: py-spy shortens the paths of the editable install to
``issuer/...`` (or shows them whole with ``--full-filenames``)."""
FRAME = ("issuer/cli.py", "issuer/serve.py")
"""The frames under every sample (the command and the event loop's start): not a request's."""


@dataclass(frozen=True)
class Endpoint:
    name: str
    target: issuance.Target


def endpoints(stack: contextlib.ExitStack, work: Path, cores: harness.Cores) -> list[Endpoint]:
    """``gatekey serve`` on the manifests of both benchmarks; one target per endpoint."""
    gatekey = harness.Gatekey.prepare(work, issuance.MANIFESTS + "---\n" + authz.MANIFESTS)
    key = gatekey.show_key("ApiProxy/bench")
    basic = (f"Authorization: {harness.basic(key)}",)
    proc, port = gatekey.serve(stack, work, cores)
    base = f"http://127.0.0.1:{port}"
    token = authz.issue_jwt(gatekey, base)
    routed = authz.issue_jwt(gatekey, base, "routed", scope="reader")
    form = issuance.FORM_BODY

    def target(label: str, url: str, headers: tuple[str, ...], body: str | None) -> issuance.Target:
        return issuance.Target(
            label=label,
            url=url,
            headers=headers,
            form=body,
            expects_token=body is not None,
            server_pid=proc.pid,
        )

    return [
        Endpoint("jwt", target("POST /auth/jwt", f"{base}/auth/jwt", basic, form)),
        Endpoint("opaque", target("POST /auth/token", f"{base}/auth/token", basic, form)),
        Endpoint(
            "authz",
            target(
                "GET /authz (cached JWT)",
                f"{base}/authz{authz.ROUTED_PATH}",
                (f"Authorization: Bearer {token}", "X-Gatekey-Proxy: orders"),
                None,
            ),
        ),
        Endpoint(
            "routes",
            target(
                "GET /authz, 50 rules",
                f"{base}/authz{authz.ROUTED_PATH}",
                (f"Authorization: Bearer {routed}", "X-Gatekey-Proxy: routed"),
                None,
            ),
        ),
    ]


def record(
    name: str, target: issuance.Target, cores: harness.Cores, args: argparse.Namespace
) -> Path:
    """py-spy's collapsed stacks of the server while wrk loads ``target``."""
    out = Path(args.keep or args.work) / f"profile-{name}-{time.monotonic_ns()}.txt"
    argv = [args.py_spy, "record", "--pid", str(target.server_pid)]
    if args.nonblocking:
        argv.append("--nonblocking")
    argv += ["--rate", str(args.rate), "--duration", str(args.seconds), "--format", "raw"]
    argv += ["--output", str(out)]
    spy = subprocess.Popen(
        cores.pin(cores.load, argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        # wrk runs a little longer than py-spy samples, so that every sample sees load.
        harness.run_wrk(target, cores, args.seconds + 2, args.connections)
    finally:
        _, err = spy.communicate(timeout=args.seconds + 30)
    if spy.returncode != 0 or not out.exists():
        raise harness.BenchFailure(f"py-spy failed ({spy.returncode}): {err.decode()[-500:]}")
    return out


def stacks(path: Path) -> Counter[tuple[str, ...]]:
    """``frame;frame;... count`` lines -> stack (root first) -> samples."""
    found: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if not (frames and count.isdigit()):
            continue
        stack = tuple(frames.split(";"))
        # Other threads (watchfiles' watcher, to_thread workers) are not the event loop's
        # work: py-spy may count a thread blocked in native code as busy.
        if not stack[0].startswith("Thread._bootstrap "):
            found[stack] += int(count)
    return found


def short(frame: str) -> str:
    """``decide (gatekey/issuer/routes.py:123)`` -> ``routes.py:decide``."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    return f"{Path(file).name}:{name}"


def report(name: str, samples: Counter[tuple[str, ...]], us_per_request: float, top: int) -> None:
    total = sum(samples.values()) or 1
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    outside = 0
    for stack, count in samples.items():
        ours = {
            short(f)
            for f in stack
            if any(mark in f for mark in ISSUER) and not any(mark in f for mark in FRAME)
        }
        for frame in ours:
            inclusive[frame] += count
        if not ours:
            outside += count
        leaves[short(stack[-1])] += count

    def line(label: str, count: int) -> str:
        share = count / total
        return f"  {label:<58} {share:>6.1%} {share * us_per_request:>7.1f} µs"

    print(f"\n== {name}: {us_per_request:.1f} µs CPU per request, {total} samples")
    print(line("no Gatekey frame (aiohttp, uvloop, the loop)", outside))
    print("Gatekey functions, inclusive:")
    for label, count in inclusive.most_common(top):
        print(line(label, count))
    print("self time (where samples end):")
    for label, count in leaves.most_common(top):
        print(line(label, count))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="endpoints: jwt opaque authz routes (default all)")
    parser.add_argument("--seconds", type=int, default=10, help="py-spy's sampling time")
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--top", type=int, default=25, help="lines per list")
    parser.add_argument(
        "--nonblocking", action="store_true", help="py-spy --nonblocking (torn stacks)"
    )
    parser.add_argument("--keep", help="a folder to keep py-spy's raw stacks in")
    args = parser.parse_args()
    args.py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if args.py_spy is None or shutil.which("wrk") is None:
        print("bench: py-spy (make venv) or wrk (scripts/install-tools.sh --bench) missing")
        return 2
    harness.stop_on_sigterm()
    cores = harness.pick_cores()
    harness.print_machine(cores)
    with harness.exit_on_failure(), harness.workspace() as (stack, work):
        args.work = work
        for endpoint in endpoints(stack, work, cores):
            if args.only and endpoint.name not in args.only:
                continue
            target = endpoint.target
            issuance.run_pass(target, cores, 1, args.connections)  # warm-up
            plain = issuance.run_pass(target, cores, 5, args.connections)
            if plain.non_200:
                raise harness.BenchFailure(f"{target.label}: {plain.non_200} answers not 200")
            report(
                target.label,
                stacks(record(endpoint.name, target, cores, args)),
                1e6 / plain.per_cpu_s,
                args.top,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
