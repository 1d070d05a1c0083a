"""Client secret rotation with overlap (pure): the values of a client Secret before and after.

A client Secret holds the current ``client_secret`` and, for a while after a
rotation, the ``previous_client_secret`` with its expiry instant: both
authenticate until then, so the replicas of a client can switch one after the
other (docs/reference.md, "Rotate a client secret without downtime"). The
clock and the new secret are inputs; nothing here does I/O.
"""

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from gatekey.operator import contract
from gatekey.operator.timestamps import parse_instant, rfc3339

PREVIOUS_KEYS = (
    contract.PREVIOUS_CLIENT_SECRET_KEY,
    contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY,
    contract.PREVIOUS_CLIENT_SECRET_CREATED_AT_KEY,
)


def previous_expiry(values: Mapping[str, str]) -> datetime | None:
    """When the previous secret stops authenticating; None without a previous secret.

    ValueError when a previous secret is there without a valid expiry: it is then
    not honoured (fail closed), and the reader reports why.
    """
    if not values.get(contract.PREVIOUS_CLIENT_SECRET_KEY):
        return None
    raw = values.get(contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY)
    if not raw:
        raise ValueError(f"{contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY} is missing")
    try:
        return parse_instant(raw)
    except ValueError:
        raise ValueError(
            f"{contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY} is not an RFC 3339 instant"
        ) from None


def rotated(
    values: Mapping[str, str],
    new_secret: str,
    now: datetime,
    keep: timedelta,
    handled: Iterable[str] = (),
) -> dict[str, str]:
    """``values`` after a rotation: the current secret becomes the previous one until
    ``now + keep``, ``new_secret`` the current one. An earlier previous secret is
    dropped (two generations at most)."""
    out = {k: v for k, v in values.items() if k not in PREVIOUS_KEYS}
    out[contract.PREVIOUS_CLIENT_SECRET_KEY] = values[contract.CLIENT_SECRET_KEY]
    out[contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY] = rfc3339(now + keep)
    created = values.get(contract.CLIENT_SECRET_CREATED_AT_KEY)
    if created:
        out[contract.PREVIOUS_CLIENT_SECRET_CREATED_AT_KEY] = created
    out[contract.CLIENT_SECRET_KEY] = new_secret
    out[contract.CLIENT_SECRET_CREATED_AT_KEY] = rfc3339(now)
    marks = sorted(set(handled))
    if marks:
        out[contract.ROTATION_HANDLED_KEY] = json.dumps(marks, separators=(",", ":"))
    return out


def without_previous(values: Mapping[str, str]) -> dict[str, str]:
    """``values`` with the previous secret dropped (rotation completed)."""
    return {k: v for k, v in values.items() if k not in PREVIOUS_KEYS}


def pruned(values: Mapping[str, str], now: datetime) -> dict[str, str]:
    """``values`` without a previous secret that has expired (or cannot be honoured)."""
    try:
        expiry = previous_expiry(values)
    except ValueError:
        return without_previous(values)
    if expiry is not None and now >= expiry:
        return without_previous(values)
    return dict(values)


def handled_requests(values: Mapping[str, str]) -> frozenset[str]:
    """The ``gatekey.io/rotate-secret`` values already acted on."""
    raw = values.get(contract.ROTATION_HANDLED_KEY)
    if not raw:
        return frozenset()
    try:
        loaded = json.loads(raw)
    except ValueError:
        return frozenset()
    return frozenset(str(v) for v in loaded) if isinstance(loaded, list) else frozenset()


def generations(values: Mapping[str, str]) -> dict[str, Any]:
    """The status view of a client Secret: created and expiry instants, never the values."""
    current: dict[str, str] = {}
    if values.get(contract.CLIENT_SECRET_CREATED_AT_KEY):
        current["createdAt"] = values[contract.CLIENT_SECRET_CREATED_AT_KEY]
    found: dict[str, Any] = {"current": current}
    try:
        expiry = previous_expiry(values)
    except ValueError:
        expiry = None
    if expiry is not None:
        previous = {"expiresAt": rfc3339(expiry)}
        if values.get(contract.PREVIOUS_CLIENT_SECRET_CREATED_AT_KEY):
            previous["createdAt"] = values[contract.PREVIOUS_CLIENT_SECRET_CREATED_AT_KEY]
        found["previous"] = previous
    return found
