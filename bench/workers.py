"""``gatekey serve --workers N`` on the SQLite default store: requests per server
CPU-second with 1 and 2 workers (docs/performance.md).

Run: ``.venv/bin/python bench/workers.py [--rounds 3] [--seconds 5] [--connections 50]``.

The method of ``bench/issuance.py``: wrk on one core, ``client_credentials`` with
``client_secret_basic``, and the CPU time the server used during each pass, here summed
over the serve process and its workers. Per round, one server with ``--workers 1`` and
one with ``--workers 2`` are started in turn on the same state dir (so the same keys and
the same SQLite file), each loaded on ``POST /auth/jwt`` (ES256) and ``POST
/auth/token`` (opaque, one group commit per loop turn, now contending for SQLite's
write lock across processes); the best pass of each is kept.

``--spread`` runs the servers on every core but wrk's instead of one: on a machine
with more than two cores that shows what the second worker adds in req/s. On a 2-core
machine both workers then still share one core (wrk takes the other), so the figure
that carries over is requests per CPU-second: what sharing the store across processes
costs. Nothing is asserted on time.
"""

import argparse
import contextlib
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import harness

FORM = "grant_type=client_credentials"
MANIFESTS = """\
apiVersion: gatekey.io/v1alpha1
kind: AuthPolicy
metadata: {name: bench-jwt}
spec:
  type: JWT
  targetRef: {kind: ApiProxy, name: bench}
  token: {algorithm: ES256}
---
apiVersion: gatekey.io/v1alpha1
kind: AuthPolicy
metadata: {name: bench-oauth2}
spec:
  type: OAuth2
  targetRef: {kind: ApiProxy, name: bench}
"""
ENDPOINTS = {"jwt": "/auth/jwt", "opaque": "/auth/token"}


@dataclass(frozen=True)
class Pass(harness.WrkPass):
    server_cpu_s: float

    @property
    def per_cpu_s(self) -> float:
        return self.requests / self.server_cpu_s if self.server_cpu_s else 0.0


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its children (the workers), from /proc."""
    total = 0.0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(child) for child in (task / "children").read_text().split()]
    for one in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def serve(
    stack: contextlib.ExitStack, gatekey: harness.Gatekey, work: Path, workers: int, pin: list[str]
) -> tuple[int, int]:
    """``gatekey serve --workers N``; its pid and port."""
    port = harness.free_port()
    argv = [gatekey.command, "serve", "--manifests", str(gatekey.manifests)]
    argv += ["--state-dir", str(gatekey.state), "--port", str(port), "--workers", str(workers)]
    proc = harness.start(stack, [*pin, *argv], work / f"workers-{workers}.log", port)
    return proc.pid, port


def one_pass(
    target: harness.Target, pid: int, cores: harness.Cores, seconds: int, connections: int
) -> Pass:
    before = tree_cpu_seconds(pid)
    wrk = harness.run_wrk(target, cores, seconds, connections)
    return Pass(**asdict(wrk), server_cpu_s=tree_cpu_seconds(pid) - before)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--spread", action="store_true", help="servers on every core but wrk's")
    args = parser.parse_args()
    cores = harness.pick_cores()
    harness.print_machine(cores)
    print(f"load     {os.getloadavg()[0]:.2f} (1 min) before the run")
    count = os.cpu_count() or 1
    if cores.server is None:
        pin: list[str] = []
    elif args.spread:
        pin = ["taskset", "-c", ",".join(str(c) for c in range(count) if c != cores.load)]
    else:
        pin = ["taskset", "-c", str(cores.server)]
    best: dict[tuple[int, str], Pass] = {}
    with harness.exit_on_failure(), harness.workspace() as (_stack, work):
        gatekey = harness.Gatekey.prepare(work, MANIFESTS)
        key = gatekey.show_key("ApiProxy/bench")
        basic = (f"Authorization: {harness.basic(key)}",)
        for round_no in range(1, args.rounds + 1):
            for workers in (1, 2):
                with contextlib.ExitStack() as server:
                    pid, port = serve(server, gatekey, work, workers, pin)
                    for name, path in ENDPOINTS.items():
                        target = harness.Target(name, f"http://127.0.0.1:{port}{path}", basic, FORM)
                        one_pass(target, pid, cores, 1, args.connections)  # warm-up
                        done = one_pass(target, pid, cores, args.seconds, args.connections)
                        if done.non_200 or done.socket_errors:
                            raise harness.BenchFailure(
                                f"{workers} worker(s) {name}: {done.non_200} non-200,"
                                f" {done.socket_errors} socket errors"
                            )
                        print(
                            f"  round {round_no}  workers={workers}  {name:<6}"
                            f" {done.requests_per_s:>8,.0f} req/s"
                            f" {done.per_cpu_s:>8,.0f} req/CPU-s"
                            f"  (server CPU {done.server_cpu_s / done.seconds:.0%} of a core)"
                        )
                        kept = best.get((workers, name))
                        if kept is None or done.per_cpu_s > kept.per_cpu_s:
                            best[(workers, name)] = done
        print("\nbest of each (by req/CPU-s):")
        for name in ENDPOINTS:
            one, two = best[(1, name)], best[(2, name)]
            print(
                f"  {name:<6} 1 worker {one.per_cpu_s:>7,.0f} req/CPU-s ({one.requests_per_s:,.0f}"
                f" req/s)   2 workers {two.per_cpu_s:>7,.0f} req/CPU-s"
                f" ({two.requests_per_s:,.0f} req/s)   2/1 per CPU-s"
                f" {two.per_cpu_s / one.per_cpu_s:.2f}"
            )
    print(f"load     {os.getloadavg()[0]:.2f} (1 min) after the run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
