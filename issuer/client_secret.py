"""A client secret as the issuer keeps it: a SHA-256 digest compared in constant time,
with the previous secret beside it for a while after a rotation (pure)."""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Generation = Literal["current", "previous"]
"""Which secret of a client authenticated (the audit line's ``secret``)."""

_NO_DIGEST = bytes(32)


@dataclass(frozen=True, slots=True)
class ClientSecret:
    """A client secret kept as its SHA-256 digest, compared in constant time; and, for a
    while after a rotation, the previous secret until ``previous_until``.

    Client secrets are high-entropy, so a fast hash is enough (docs/contract.md). Both
    digests are always compared, so the timing does not tell which generation matched.
    """

    digest: bytes
    previous: bytes | None = None
    previous_until: datetime | None = None

    @classmethod
    def of(
        cls, secret: str, previous: str | None = None, until: datetime | None = None
    ) -> "ClientSecret":
        if not previous or until is None:
            return cls(hashlib.sha256(secret.encode()).digest())
        return cls(
            hashlib.sha256(secret.encode()).digest(),
            hashlib.sha256(previous.encode()).digest(),
            until,
        )

    def matches(self, presented: str, now: datetime | None = None) -> Generation | None:
        """The generation ``presented`` is, or None. Without ``now`` only the current one
        counts; the previous one only before ``previous_until``."""
        digest = hashlib.sha256(presented.encode()).digest()
        current = hmac.compare_digest(digest, self.digest)
        previous = hmac.compare_digest(digest, self.previous or _NO_DIGEST)
        if current:
            return "current"
        if (
            previous
            and self.previous is not None
            and now is not None
            and self.previous_until is not None
            and now < self.previous_until
        ):
            return "previous"
        return None
