"""ES256 JWT issuance against node's oidc-provider in CPU instructions: the peer ratio
without the machine's load in it (docs/performance.md, "The peer goal").

Run: ``.venv/bin/python bench/peer_instructions.py [--warm-up 10000] [--requests 2000]``
(15-20 minutes; needs ``valgrind``, and node with ``npm ci`` in
``bench/peers/oidc-provider``: ``make bench`` installs both). ``bench/issuance.py``
gives the ratio per CPU-second, which is what a core costs, but on this shared machine
one revision's ratio moved by a third between runs. Here each server runs as a process
of its own under callgrind, as ``bench/issuance.py`` starts it, answering POSTs over
loopback on one keep-alive connection. After ``--warm-up`` requests the counters are
zeroed (``callgrind_control --zero``), ``--requests`` more are sent and counted
(``--dump``): the instructions one request costs the server, in user space, in all its
threads (V8's compiler and collector threads included, as a CPU-second includes them).

The warm-up is long for the peer's sake: V8 keeps compiling its hot code. Its count
per request was 2.20 million after 1,000 requests, 1.54 after 2,000, 1.11 after 10,000
and 1.21 after 20,000 (a collection more or less in the window).

What it cannot see: the kernel's work (measured apart, the peer's system time per
request was 96-107 µs against Gatekey's 55-77) and the time a core waits on memory. The
ratio here sat below the one per CPU-second (docs/performance.md gives both). Nothing
is asserted; exit status 1 when a server did not start or an answer was not a 200.
"""

import argparse
import contextlib
import http.client
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import harness
import issuance

VALGRIND_START_S = 300.0
"""Start-up under valgrind: about 20 times a bare start, node's longest."""
TOTALS = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Server:
    """One server as ``bench/issuance.py`` starts it, and the request it answers."""

    label: str
    command: Callable[[int], list[str]]
    """Its command line, listening on the port given."""
    path: str
    authorization: str | None


def servers(work: Path, node: str) -> list[Server]:
    """The form ceiling, ``gatekey serve`` on the bench manifests, and the peer, all with
    the bench's client (the proxy key of ``ApiProxy/bench``)."""
    gatekey = harness.Gatekey.prepare(work, issuance.MANIFESTS)
    key = gatekey.show_key("ApiProxy/bench")
    basic = harness.basic(key)
    ceiling = [sys.executable, str(harness.CEILING_SERVER), "--form", "--port"]
    serve = [gatekey.command, "serve", "--manifests", str(gatekey.manifests)]
    serve += ["--state-dir", str(gatekey.state), "--port"]
    peer = [node, str(issuance.PEER_DIR / "server.mjs")]
    client = [key["client_id"], key["client_secret"]]
    return [
        Server(issuance.CEILING, lambda port: [*ceiling, str(port)], "/token", None),
        Server(issuance.JWT, lambda port: [*serve, str(port)], "/auth/jwt", basic),
        Server(issuance.PEER, lambda port: [*peer, str(port), *client], "/token", basic),
    ]


def post(connection: http.client.HTTPConnection, server: Server, times: int) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if server.authorization is not None:
        headers["Authorization"] = server.authorization
    for _ in range(times):
        connection.request("POST", server.path, body=issuance.FORM_BODY, headers=headers)
        answer = connection.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise harness.BenchFailure(f"{server.label}: {answer.status} {body[:200]!r}")


def per_request(server: Server, work: Path, warm_up: int, requests: int) -> float:
    """Instructions of one request: counted between a zero and a dump, after ``warm_up``."""
    port = harness.free_port()
    name = re.sub(r"\W+", "-", server.label).strip("-")
    out = work / f"callgrind.{name}"
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p"]
    with contextlib.ExitStack() as stack:
        proc = harness.start(
            stack, argv + server.command(port), work / f"{name}.log", port, VALGRIND_START_S
        )
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=VALGRIND_START_S)
        stack.callback(connection.close)
        post(connection, server, warm_up)
        control(proc.pid, "--zero")
        post(connection, server, requests)
        control(proc.pid, "--dump")
        # The dump after the zero is the newest file; the one written at exit comes later.
        dumps = sorted(work.glob(f"{out.name}.{proc.pid}.*"), key=lambda p: p.stat().st_mtime)
        if not dumps:
            raise harness.BenchFailure(f"{server.label}: callgrind wrote no dump")
        found = TOTALS.search(dumps[-1].read_text(errors="replace"))
        if found is None:
            raise harness.BenchFailure(f"{server.label}: no totals in {dumps[-1].name}")
        return int(found.group(1)) / requests


def control(pid: int, action: str) -> None:
    done = subprocess.run(
        ["callgrind_control", action, str(pid)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise harness.BenchFailure(f"callgrind_control {action} failed:\n{done.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-up", type=int, default=10000, help="before counting (10000)")
    parser.add_argument("--requests", type=int, default=2000, help="counted (default 2000)")
    args = parser.parse_args()
    node = shutil.which("node")
    if node is None or not (issuance.PEER_DIR / "node_modules" / "oidc-provider").is_dir():
        print(f"bench: no peer (node, or `npm ci` in {issuance.PEER_DIR}, is missing)")
        return 1
    with harness.exit_on_failure(), harness.workspace() as (_, work):
        print(f"instructions per request (callgrind, {args.requests} after {args.warm_up}):")
        counted = {}
        for server in servers(work, node):
            counted[server.label] = per_request(server, work, args.warm_up, args.requests)
            print(f"  {server.label:<{issuance.LABEL_WIDTH}} {counted[server.label]:12,.0f}")
        jwt, peer = counted[issuance.JWT], counted[issuance.PEER]
        verdict = "met" if peer / jwt >= issuance.PEER_GOAL else "missed"
        print(f"  JWT / ceiling  {counted[issuance.CEILING] / jwt:5.3f}")
        print(f"  JWT / peer     {peer / jwt:5.2f}   goal >= {issuance.PEER_GOAL:.2f}  {verdict}")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
