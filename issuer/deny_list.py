"""The JWT deny list in memory: revoked ``jti`` -> until when (docs/api.md, RFC 7009 §2).

The store keeps it durable; this copy makes the check on the verification hot
path a dictionary look-up. Entries fall away once the token would have expired
anyway.
"""

from collections.abc import Mapping


class DenyList:
    """Revoked JWT ids."""

    def __init__(self, entries: Mapping[str, float | None] | None = None) -> None:
        self._until: dict[str, float | None] = dict(entries or {})

    def add(self, jti: str, until: float | None) -> None:
        self._until[jti] = until

    def denies(self, jti: str | None, now: float) -> bool:
        if jti is None or jti not in self._until:
            return False
        until = self._until[jti]
        if until is not None and until < now:
            del self._until[jti]
            return False
        return True
