"""One structured audit line per token request, on standard output (DESIGN §7, §8).

Never a secret, password or token: only who asked, for what, and what came of it.
"""

import json
import logging
import sys
from dataclasses import asdict, dataclass

_log = logging.getLogger("gatekey.audit")


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


def configure(stream: object = None) -> None:
    """Send audit lines, as bare JSON, to ``stream`` (standard output by default)."""
    handler = logging.StreamHandler(stream or sys.stdout)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(message)s"))
    _log.handlers[:] = [handler]
    _log.setLevel(logging.INFO)
    _log.propagate = False


def write(entry: AuditEntry, at: float) -> None:
    """Log ``entry`` as one JSON line."""
    if _log.isEnabledFor(logging.INFO):
        _log.info(json.dumps({"time": round(at, 3), **asdict(entry)}, separators=(",", ":")))
