"""What one client can make ``/authz`` remember, attacked from outside: a real ``gatekey
serve`` process, raw HTTP on loopback, its memory read from ``/proc``.

``/authz`` remembers a pass per (``Authorization``, ``X-Gatekey-Proxy``) pair *as sent*.
The header is parsed loosely (the scheme's case, any run of blanks before the token),
so one valid token has thousands of spellings, each up to aiohttp's 8 KiB field limit.
The number of passes is bounded; what each costs must be too, or one client holding
one token fills the issuer's memory (the chart's limit is 512 MiB)."""

import socket
from pathlib import Path

import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import policy
from tests.support.process import serving, show_key

FIELD = 8_100
"""Bytes of one ``Authorization`` value: under aiohttp's 8,190-byte field limit."""
SPELLINGS = 20_000
GROWTH_LIMIT = 64 * 1024 * 1024
"""What 20,000 requests may add to the issuer's memory: kept, their headers are 160 MB."""
SCHEMES = ("Bearer", "bearer", "BEARER", "bEaReR")


def _rss(pid: int) -> int:
    """Resident memory of ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _spelling(token: str, n: int) -> str:
    """The ``n``-th way of writing ``Bearer <token>`` that the issuer reads as that token:
    one tab somewhere in a run of spaces, after a scheme in some case."""
    width = FIELD - len(token) - len("Bearer") - 1
    where = 1 + n % (width - 1)
    blanks = " " * where + "\t" + " " * (width - where)
    return SCHEMES[n // (width - 1) % len(SCHEMES)] + blanks + token


def _ask(port: int, token: str, spellings: range) -> dict[int, int]:
    """Ask ``/authz`` once per spelling over one keep-alive connection (pipelined by 50);
    how many answers of each status came."""
    statuses: dict[int, int] = {}
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        answers = sock.makefile("rb")
        numbers = list(spellings)
        for start in range(0, len(numbers), 50):
            batch = numbers[start : start + 50]
            sock.sendall(
                b"".join(
                    f"GET /authz HTTP/1.1\r\nHost: gatekey\r\nX-Gatekey-Proxy: orders\r\n"
                    f"Authorization: {_spelling(token, n)}\r\n\r\n".encode()
                    for n in batch
                )
            )
            for _ in batch:
                status = int(answers.readline().split()[1])
                statuses[status] = statuses.get(status, 0) + 1
                length = 0
                while (line := answers.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                answers.read(length)
    return statuses


def test_one_token_spelled_many_ways_does_not_fill_the_issuer_memory(tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("orders-jwt", "JWT"))
    key = show_key(manifests, state)
    with serving(manifests, state) as (url, process):
        form = {"grant_type": "client_credentials", **key}
        token = requests.post(url + "/auth/jwt", data=form, timeout=10).json()["access_token"]
        port = int(url.rsplit(":", 1)[1])
        # Warm up (the allocator, the caches of one request) before measuring.
        assert _ask(port, token, range(0, 500)) == {200: 500}
        before = _rss(process.pid)
        assert _ask(port, token, range(500, 500 + SPELLINGS)) == {200: SPELLINGS}
        grown = _rss(process.pid) - before
    assert grown < GROWTH_LIMIT, f"{grown / 2**20:.0f} MiB kept for one token"
