"""Access-token verification: what the proxy side of Gatekey relies on.

JWTs are checked against the snapshot's keys (RFC 7515, RFC 9068 §4: ``typ``,
``iss``, ``exp``), opaque tokens against the store. Then the live state: the
``jti`` is not denied, the client still exists and (ACL mode) is enabled.
Verified JWTs are cached until they expire; the live checks run on every use,
so a revocation or a disabled credential takes effect at once.
"""

from dataclasses import dataclass
from typing import Any

import jwt

from gatekey.issuer.clock import instant
from gatekey.issuer.deny_list import DenyList
from gatekey.issuer.snapshot import Snapshot
from gatekey.issuer.store.base import TokenRecord, TokenStore, token_digest
from gatekey.issuer.tokens.jwt_signer import ACCESS_TOKEN_TYP, KeyMaterial
from gatekey.issuer.tokens.opaque import ACCESS_PREFIX, REFRESH_PREFIX

CACHE_SIZE = 50_000
CLOCK_SKEW = 60
"""Seconds of ``nbf`` leeway for replicas whose clocks differ a little."""
BASES = {"/auth": "Policy", "/credential": "ACL"}


class InvalidToken(Exception):
    """The token cannot be used (RFC 6750 §3.1 ``invalid_token``); the message says why."""


@dataclass(frozen=True, slots=True)
class Verified:
    """What a valid access token says."""

    token_type: str
    """``JWT`` or ``OAuth2`` (opaque)."""
    management: str
    client_id: str
    subject: str
    username: str | None
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    issued_at: int
    expires_at: int | None
    issuer: str
    jti: str | None = None


class Verifier:
    """Verifies access tokens for introspection, revocation, regeneration and ``/authz``."""

    def __init__(
        self, issuer_url: str, store: TokenStore, deny: DenyList, material: KeyMaterial
    ) -> None:
        self.issuer_url = issuer_url.rstrip("/")
        self.store = store
        self.deny = deny
        self.material = material
        self._cache: dict[str, Verified] = {}

    async def verify(self, token: str, snapshot: Snapshot, now: float) -> Verified:
        """The verified token, live at ``now``, or :class:`InvalidToken`."""
        if token.startswith(ACCESS_PREFIX):
            verified = self._from_record(await self.store.get(token_digest(token)), now)
        elif token.startswith(REFRESH_PREFIX):
            raise InvalidToken("a refresh token is not an access token")
        else:
            verified = self._jwt(token, snapshot, now)
        self.check_live(verified, snapshot, now)
        return verified

    def check_live(self, verified: Verified, snapshot: Snapshot, now: float) -> None:
        """The parts of validity that can change after issue."""
        if self.deny.denies(verified.jti, now):
            raise InvalidToken("the token was revoked")
        if verified.management == "Policy":
            key = snapshot.proxy_keys.get(verified.client_id)
            if key is None or verified.token_type not in key.policies:
                raise InvalidToken("the client no longer exists")
        else:
            cred = snapshot.credentials.get(verified.client_id)
            if cred is None or not cred.enabled_at(instant(now)):
                raise InvalidToken("the client is disabled or gone")

    def decode(self, token: str, snapshot: Snapshot) -> Verified:
        """A JWT whose signature checks out, expired or not (for revocation)."""
        return self._decode(token, snapshot, now=None)

    def forget(self, token: str) -> None:
        """Drop a token from the cache (after revocation)."""
        self._cache.pop(token, None)

    def _jwt(self, token: str, snapshot: Snapshot, now: float) -> Verified:
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at is None or now < cached.expires_at:
                return cached
            del self._cache[token]
            raise InvalidToken("the token has expired")
        verified = self._decode(token, snapshot, now)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        self._cache[token] = verified
        return verified

    def _decode(self, token: str, snapshot: Snapshot, now: float | None) -> Verified:
        try:
            header = jwt.get_unverified_header(token)
            key = snapshot.verification_keys.get(str(header.get("kid")))
            if key is None:
                raise InvalidToken("unknown signing key")
            if header.get("typ") != ACCESS_TOKEN_TYP:
                raise InvalidToken("not a JWT access token")
            claims: dict[str, Any] = jwt.decode(
                token,
                self.material(key),
                algorithms=[key.alg],
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["iss", "sub", "client_id", "iat"],
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token signature or format is invalid") from exc
        base = str(claims["iss"]).removeprefix(self.issuer_url)
        if base not in BASES:
            raise InvalidToken("the token was issued elsewhere")
        exp = claims.get("exp")
        if now is not None and exp is not None and now >= exp:
            raise InvalidToken("the token has expired")
        if now is not None and now < claims.get("nbf", claims["iat"]) - CLOCK_SKEW:
            raise InvalidToken("the token is not valid yet")
        aud = claims.get("aud", [])
        return Verified(
            token_type="JWT",
            management=BASES[base],
            client_id=str(claims["client_id"]),
            subject=str(claims["sub"]),
            username=None if claims["sub"] == claims["client_id"] else str(claims["sub"]),
            scope=tuple(str(claims.get("scope", "")).split()),
            audience=tuple([aud] if isinstance(aud, str) else aud),
            issued_at=int(claims["iat"]),
            expires_at=None if exp is None else int(exp),
            issuer=str(claims["iss"]),
            jti=claims.get("jti"),
        )

    def _from_record(self, record: TokenRecord | None, now: float) -> Verified:
        if record is None or record.kind != "access":
            raise InvalidToken("unknown token")
        if not record.live(now):
            raise InvalidToken("the token has expired or was revoked")
        return verified_record(record, self.issuer_url)


def verified_record(record: TokenRecord, issuer_url: str) -> Verified:
    """What a stored token says, in the shape of a verified one."""
    base = "/auth" if record.management == "Policy" else "/credential"
    return Verified(
        token_type=record.token_type,
        management=record.management,
        client_id=record.client_id,
        subject=record.subject,
        username=record.username,
        scope=record.scope,
        audience=record.audience,
        issued_at=int(record.issued_at),
        expires_at=None if record.expires_at is None else int(record.expires_at),
        issuer=issuer_url + base,
    )
