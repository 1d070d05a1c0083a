"""One structured audit line per token request (docs/operations.md, "Logs").

Never a secret, password or token: only who asked, for what, and what came of it.
The lines go to standard output, or to a file of their own (``--audit-log``), apart
from the operational log on standard error; they carry ``"logger": "gatekey.audit"``.
"""

import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import orjson

from gatekey.issuer.logs import LogFormat

LOGGER = "gatekey.audit"


@dataclass
class AuditEntry:
    """The fields of one audit line."""

    endpoint: str
    source: str | None
    client_id: str | None = None
    username: str | None = None
    """The user name a password grant tried (logged also when it fails)."""
    principal: str | None = None
    grant: str | None = None
    scope: str | None = None
    result: str = "error"
    error: str | None = None
    duration_ms: float = 0.0
    jti: str | None = None
    status: int = 0
    secret: str | None = None
    """Which client secret authenticated: ``current`` or ``previous`` (after a rotation)."""


class _BatchedLines:
    """Lines written together once per event-loop iteration: one ``write`` and ``flush``
    per burst of requests rather than one per request. At most one iteration's lines
    can be lost if the process dies."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lines: list[str] = []

    def __call__(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop: write at once
                self.flush()

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        if lines:
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()


_sink: Callable[[str], None] | None = None
_format: LogFormat = "json"


def configure(stream: TextIO | None = None, log_format: LogFormat = "json") -> None:
    """Send audit lines to ``stream`` (standard output by default) in ``log_format``."""
    global _sink, _format
    _sink = _BatchedLines(stream or sys.stdout)
    _format = log_format


def write(entry: AuditEntry, at: float) -> None:
    """Write ``entry`` as one line (nowhere until :func:`configure` was called)."""
    if _sink is None:
        return
    if _format == "json":
        # orjson: a tenth of json.dumps's time (docs/performance.md), and it writes the
        # dataclass's fields itself, in order, after the two leading ones. It writes
        # UTF-8; a line with other than ASCII (a user name) keeps json's \u escapes,
        # whatever the encoding of the stream.
        fields = orjson.dumps(entry)
        if not fields.isascii():
            fields = json.dumps(vars(entry), separators=(",", ":")).encode()
        # ``.3f``: the time to the millisecond, at a third of round()'s cost, spelled
        # the same on every line.
        _sink(f'{{"time":{at:.3f},"logger":"{LOGGER}",{fields[1:].decode()}')
    else:
        _sink(f"{_clock(at)} INFO {LOGGER} {_pairs(vars(entry))}")


def _clock(at: float) -> str:
    """``logging``'s default asctime shape, so text audit lines line up with the rest."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) + f",{int(at % 1 * 1000):03d}"


def _pairs(fields: dict[str, Any]) -> str:
    """``key=value`` for the fields that are set (values quoted when they hold spaces)."""
    out = []
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value)
        out.append(f"{key}={json.dumps(text) if (' ' in text or not text) else text}")
    return " ".join(out)
