"""Signing keys per namespace and algorithm: creation, rotation with overlap, retirement (pure).

docs/contract.md: every key has a ``kid``; a new key is published in the JWKS
``prepublish`` before it signs; a retired key stays published until every token
it signed has expired. The clock is an argument; new keys come from
an injected factory.
"""

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ASYMMETRIC_PUBLIC_FIELDS = {
    "EC": ("kty", "crv", "x", "y"),
    "OKP": ("kty", "crv", "x"),
    "RSA": ("kty", "n", "e"),
}


class SigningKey(BaseModel):
    """One key and its life: it signs from ``not_before`` until a newer key takes over."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    kid: str
    alg: str
    created_at: datetime = Field(alias="createdAt")
    not_before: datetime = Field(alias="notBefore")
    jwk: dict[str, Any]

    @property
    def symmetric(self) -> bool:
        """HMAC keys are never published."""
        return self.jwk.get("kty") == "oct"

    def public_jwk(self) -> dict[str, Any]:
        """The public half (RFC 7517 §4), with ``kid``, ``alg`` and ``use``."""
        fields = ASYMMETRIC_PUBLIC_FIELDS[self.jwk["kty"]]
        return {k: self.jwk[k] for k in fields} | {"kid": self.kid, "alg": self.alg, "use": "sig"}


def active_key(keys: Iterable[SigningKey], alg: str, now: datetime) -> SigningKey | None:
    """The key that signs ``alg`` tokens at ``now``: the newest one already in force."""
    in_force = [k for k in keys if k.alg == alg and k.not_before <= now]
    return max(in_force, key=lambda k: k.not_before, default=None)


def plan_keys(
    existing: Iterable[SigningKey],
    algorithms: Iterable[str],
    now: datetime,
    *,
    rotation: timedelta,
    prepublish: timedelta,
    retention: timedelta | None,
    new_key: Callable[[str], dict[str, Any]],
) -> list[SigningKey]:
    """The key set for ``now``: a key in force per algorithm, successors pre-published on time,
    and retired keys dropped once ``retention`` (the longest token life; None = forever) passed.
    """
    keys = list(existing)
    for alg in sorted(set(algorithms)):
        current = active_key(keys, alg, now)
        if current is None:
            keys.append(_key(alg, now, now, new_key))
            continue
        due = current.not_before + rotation
        waiting = any(k.alg == alg and k.not_before > current.not_before for k in keys)
        if now >= due - prepublish and not waiting:
            # Never sign before being published ``prepublish`` long, even when rendered late.
            keys.append(_key(alg, now, max(due, now + prepublish), new_key))
    return sorted(
        (k for k in keys if not _expired(k, keys, now, retention)),
        key=lambda k: (k.alg, k.not_before, k.kid),
    )


def public_jwks(keys: Iterable[SigningKey]) -> dict[str, Any]:
    """The JWKS (RFC 7517 §5) of the asymmetric keys: those in force, waiting and retired."""
    return {"keys": [k.public_jwk() for k in keys if not k.symmetric]}


def _key(
    alg: str, now: datetime, not_before: datetime, new_key: Callable[[str], dict[str, Any]]
) -> SigningKey:
    jwk = new_key(alg)
    return SigningKey(kid=jwk["kid"], alg=alg, created_at=now, not_before=not_before, jwk=jwk)


def _expired(
    key: SigningKey, keys: list[SigningKey], now: datetime, retention: timedelta | None
) -> bool:
    """A key has expired when a successor took over more than ``retention`` ago."""
    if retention is None:
        return False
    successors = [
        k.not_before for k in keys if k.alg == key.alg and key.not_before < k.not_before <= now
    ]
    return bool(successors) and min(successors) + retention < now
