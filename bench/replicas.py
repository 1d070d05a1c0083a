"""Stores and workers: issuance and refresh on Redis against SQLite, and 2 workers against 1.

Run: ``.venv/bin/python bench/replicas.py [--seconds 5] [--concurrency 32]``.

Every figure comes from one run on this machine. The load generator is an
asyncio client (aiohttp) pinned to the last core: refresh tokens rotate on every
use, so each virtual client follows its own chain, which wrk cannot script. The
servers are pinned to core 0, except the two-worker case, which gets every core
but the client's (on a 2-core machine: the same single core, so the figure shows
what the extra process costs rather than what it adds; on 4 cores it shows the
scaling). A ``redis-server`` is started on a free port. Nothing is asserted on
time.
"""

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import harness

GATEKEY = str(Path(sys.executable).parent / "gatekey")
MANIFEST = """\
apiVersion: gatekey.io/v1alpha1
kind: AuthPolicy
metadata: {name: bench}
spec:
  type: OAuth2
  targetRef: {kind: ApiProxy, name: bench}
  token: {refresh: {enabled: true, ttl: 1h}}
"""


def cores() -> tuple[str, str]:
    """(server cores, client core) as taskset lists."""
    count = os.cpu_count() or 1
    if count == 1:
        return "0", "0"
    return ("0" if count == 2 else f"0-{count - 2}"), str(count - 1)


def start(args: list[str], cpus: str, **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["taskset", "-c", cpus, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **kwargs,
    )  # type: ignore[call-overload]


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def load(url: str, basic: str, seconds: float, concurrency: int, refresh: bool) -> float:
    """Requests per second: client_credentials, or refreshes along private chains."""
    headers = {"Authorization": basic}
    done = 0
    stop = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        form = {"grant_type": "client_credentials"}
        while time.monotonic() < stop:
            async with session.post(url, data=form, headers=headers) as response:
                body = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"{response.status}: {body}")
            done += 1
            if refresh:
                form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return done / (time.monotonic() - started)


def measure(
    store: str | None, workers: int, folder: Path, seconds: float, concurrency: int
) -> dict[str, float]:
    server_cpus, client_cpus = cores()
    state = folder / f"state-{workers}-{'redis' if store else 'sqlite'}"
    key = json.loads(
        subprocess.run(
            [
                GATEKEY,
                "show-key",
                "--manifests",
                str(folder / "m"),
                "--state-dir",
                str(state),
                "ApiProxy/bench",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    basic = harness.basic(key)
    port = harness.free_port()
    command = [
        GATEKEY,
        "serve",
        "--manifests",
        str(folder / "m"),
        "--state-dir",
        str(state),
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if store:
        command += ["--store", store]
    server = start(command, server_cpus if workers > 1 else "0")
    try:
        wait_port(port)
        time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/auth/token"
        figures = {}
        for name, refresh in (("issue", False), ("refresh", True)):
            script = (
                f"import asyncio,sys; sys.path.insert(0, {str(Path(__file__).parent)!r});"
                f"import replicas; print(asyncio.run(replicas.load({url!r}, {basic!r}, "
                f"{seconds}, {concurrency}, {refresh})))"
            )
            out = subprocess.run(
                ["taskset", "-c", client_cpus, sys.executable, "-c", script],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            figures[name] = float(out.strip().splitlines()[-1])
        return figures
    finally:
        server.terminate()
        server.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        sys.exit("redis-server is missing (scripts/install-tools.sh installs it as root)")
    with tempfile.TemporaryDirectory(prefix="gatekey-replicas-") as tmp:
        folder = Path(tmp)
        (folder / "m").mkdir()
        (folder / "m" / "policy.yaml").write_text(MANIFEST)
        redis_port = harness.free_port()
        redis = start(
            [
                redis_server,
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--dir",
                tmp,
            ],
            cores()[0],
        )
        try:
            wait_port(redis_port)
            store = f"redis://127.0.0.1:{redis_port}/0"
            runs: list[tuple[str, Callable[[], dict[str, float]]]] = [
                (
                    "SQLite, 1 worker",
                    lambda: measure(None, 1, folder, args.seconds, args.concurrency),
                ),
                (
                    "Redis, 1 worker",
                    lambda: measure(store, 1, folder, args.seconds, args.concurrency),
                ),
                (
                    "Redis, 2 workers",
                    lambda: measure(store, 2, folder, args.seconds, args.concurrency),
                ),
            ]
            print(
                f"{os.cpu_count()} cores; server cores {cores()[0]}, client core {cores()[1]};"
                f" {args.concurrency} concurrent clients, {args.seconds:g} s per figure"
            )
            print(f"{'setup':<20} {'issue req/s':>12} {'refresh req/s':>14}")
            results = {}
            for name, run in runs:
                results[name] = run()
                print(
                    f"{name:<20} {results[name]['issue']:>12,.0f} "
                    f"{results[name]['refresh']:>14,.0f}"
                )
            base = results["SQLite, 1 worker"]
            for name in ("Redis, 1 worker", "Redis, 2 workers"):
                print(
                    f"{name} / SQLite: issue {results[name]['issue'] / base['issue']:.2f}, "
                    f"refresh {results[name]['refresh'] / base['refresh']:.2f}"
                )
        finally:
            redis.terminate()
            redis.wait(10)


if __name__ == "__main__":
    main()
