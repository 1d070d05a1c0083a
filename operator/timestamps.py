"""Instants as Kubernetes writes them (pure): RFC 3339 in UTC, whole seconds, a ``Z``.

``metav1.Time`` serialises this way (``2026-12-01T23:05:13Z``); every instant Gatekey
writes (status conditions, Events, client Secret keys) uses it, and every instant it
reads (``creationTimestamp``, the Secret keys, user-written values) goes through
:func:`parse_instant`.
"""

from datetime import UTC, datetime


def rfc3339(at: datetime) -> str:
    """``at`` in UTC, RFC 3339 with a ``Z`` and whole seconds (what Kubernetes writes)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str) -> datetime:
    """An RFC 3339 instant with an offset (ValueError otherwise)."""
    found = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if found.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return found
