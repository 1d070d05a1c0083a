"""What one issuer process tells the others through the store: typed events.

Two kinds exist. Each is also kept durably in the store (the deny list, the blocks);
the event only spares the other processes a store read on the hot path. On the wire
(the Redis channel, the SQLite ``events`` table) they keep the JSON shape of earlier
releases, ``{"type": "deny", "jti", "until"}`` and ``{"type": "block", "key",
"until"}``, so replicas of two versions understand each other during a rolling update.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JtiDenied:
    """A JWT access token was revoked (RFC 7009): refuse its ``jti`` until ``until``
    (its ``exp``; None for an immortal token)."""

    jti: str
    until: float | None


@dataclass(frozen=True, slots=True)
class KeyBlocked:
    """A throttle key (docs/security.md) is refused until ``until``."""

    key: str
    until: float


Event = JtiDenied | KeyBlocked
EventHandler = Callable[[Event], None]


def encode(event: Event) -> str:
    """The wire form of ``event`` (JSON)."""
    if isinstance(event, JtiDenied):
        return json.dumps({"type": "deny", "jti": event.jti, "until": event.until})
    return json.dumps({"type": "block", "key": event.key, "until": event.until})


def decode(data: object) -> Event | None:
    """The event a wire message carries; None for anything malformed or unknown (a
    message from a newer release is skipped, never fatal)."""
    if not isinstance(data, str | bytes):
        return None
    try:
        message = json.loads(data)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    kind, until = message.get("type"), message.get("until")
    if until is not None and (isinstance(until, bool) or not isinstance(until, int | float)):
        return None
    if kind == "deny" and isinstance(message.get("jti"), str):
        return JtiDenied(message["jti"], None if until is None else float(until))
    if kind == "block" and isinstance(message.get("key"), str) and until is not None:
        return KeyBlocked(message["key"], float(until))
    return None
