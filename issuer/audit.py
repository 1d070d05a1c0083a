"""One structured audit line per token request, on standard output (DESIGN §7, §8).

Never a secret, password or token: only who asked, for what, and what came of it.
"""

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO


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


def configure(stream: TextIO | None = None) -> None:
    """Send audit lines, as bare JSON, to ``stream`` (standard output by default)."""
    global _sink
    _sink = _BatchedLines(stream or sys.stdout)


def write(entry: AuditEntry, at: float) -> None:
    """Write ``entry`` as one JSON line (nowhere until :func:`configure` was called)."""
    if _sink is not None:
        _sink(json.dumps({"time": round(at, 3), **vars(entry)}, separators=(",", ":")))
