"""Access-token verification: what the proxy side of Gatekey relies on.

JWTs are checked against the snapshot's keys (RFC 7515, RFC 9068 §4: ``typ``,
``iss``, ``exp``), opaque tokens against the store. Then the live state: the
``jti`` is not denied, the client still exists and (ACL mode) is enabled.
Verified JWTs are cached until they expire or the configuration (and so the key set)
changes; the live checks run on every use, so a revocation or a disabled credential
takes effect at once.
"""

from dataclasses import dataclass
from typing import Any, TypeGuard

from gatekey.issuer import jose
from gatekey.issuer.clock import instant
from gatekey.issuer.deny_list import DenyList
from gatekey.issuer.snapshot import NamespacedKey, Snapshot
from gatekey.issuer.store.base import TokenRecord, token_digest
from gatekey.issuer.store.ports import TokenReader
from gatekey.issuer.tokens.jwt_signer import ACCESS_TOKEN_TYP, KeyMaterial
from gatekey.issuer.tokens.opaque import ACCESS_PREFIX, REFRESH_PREFIX
from gatekey.operator.model.vocabulary import BASES, Management, TokenType

CACHE_SIZE = 50_000
CLOCK_SKEW = 60
"""Seconds of ``nbf`` leeway for replicas whose clocks differ a little."""


class InvalidToken(Exception):
    """The token cannot be used (RFC 6750 §3.1 ``invalid_token``); the message says why."""


@dataclass(frozen=True, slots=True)
class Verified:
    """What a valid access token says."""

    token_type: TokenType
    """``JWT`` or ``OAuth2`` (opaque)."""
    management: Management
    client_id: str
    subject: str
    username: str | None
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    issued_at: int
    expires_at: int | None
    issuer: str
    namespace: str
    """Where the token was minted: the namespace of the key that signed it (JWT) or of the
    client it was stored for (opaque)."""
    jti: str | None = None
    jkt: str | None = None
    """RFC 9449: the thumbprint of the key the token is bound to (``cnf.jkt``), if any."""


class Verifier:
    """Verifies access tokens for introspection, revocation, regeneration and ``/authz``."""

    def __init__(
        self, issuer_url: str, store: TokenReader, deny: DenyList, material: KeyMaterial
    ) -> None:
        self.issuer_url = issuer_url.rstrip("/")
        self.store = store
        self.deny = deny
        self.material = material
        self._issuers = {self.issuer_url + base: management for management, base in BASES.items()}
        """``iss`` -> management mode, compared exactly (RFC 9068 §4, RFC 8414 §3.3)."""
        self._cache: dict[str, Verified] = {}
        self._cached_under: Snapshot | None = None
        """The snapshot whose keys made the cached verifications."""

    async def verify(self, token: str, snapshot: Snapshot, now: float) -> Verified:
        """The verified token, live at ``now``, or :class:`InvalidToken`."""
        if token.startswith(ACCESS_PREFIX):
            record = await self.store.get(token_digest(token))
            verified = self._from_record(record, snapshot, now)
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
        if snapshot.client_namespace(verified.client_id) != verified.namespace:
            # Gone, or its client id is now held in another namespace.
            raise InvalidToken("the client no longer exists")
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
        if snapshot is not self._cached_under:
            # A verification holds for the keys it was made with: a key taken out of the
            # set (leaked, deleted) must stop its tokens even where they were seen before.
            self._cache.clear()
            self._cached_under = snapshot
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
            header = jose.header(token)
        except jose.Malformed as exc:
            raise InvalidToken("the token signature or format is invalid") from exc
        if header.get("typ") != ACCESS_TOKEN_TYP:
            raise InvalidToken("not a JWT access token")
        candidates = snapshot.verification_keys.get(str(header.get("kid")), ())
        if not candidates:
            raise InvalidToken("unknown signing key")
        claims, namespace = self._signed_claims(token, candidates)
        return self._verified(claims, namespace, now)

    def _signed_claims(
        self, token: str, candidates: tuple[NamespacedKey, ...]
    ) -> tuple[dict[str, Any], str]:
        """The claims, and the namespace of the key whose signature checks out.

        Another namespace may publish the victim's ``kid`` with a key of its own: each
        candidate is tried, so that neither can stand in for the other. The token's ``alg``
        must be the key's own (RFC 8725 §3.1): never ``none``, never another family."""
        try:
            compact = jose.parse(token)
        except jose.Malformed as exc:
            raise InvalidToken("the token signature or format is invalid") from exc
        alg = compact.header.get("alg")
        for candidate in candidates:
            key = candidate.key
            if alg == key.alg and jose.verifies(
                compact, key.alg, self.material(key, candidate.namespace)
            ):
                return compact.claims, candidate.namespace
        raise InvalidToken("the token signature or format is invalid")

    def _verified(self, claims: dict[str, Any], namespace: str, now: float | None) -> Verified:
        """RFC 9068 §4: exact ``iss``, claims of the registered types, time window."""
        issuer = claims.get("iss")
        management = self._issuers.get(issuer) if isinstance(issuer, str) else None
        if management is None or not isinstance(issuer, str):
            raise InvalidToken("the token was issued elsewhere")
        subject, client_id = claims.get("sub"), claims.get("client_id")
        iat, exp, nbf = claims.get("iat"), claims.get("exp"), claims.get("nbf", claims.get("iat"))
        aud, scope, jti = claims.get("aud", []), claims.get("scope", ""), claims.get("jti")
        audience = [aud] if isinstance(aud, str) else aud
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if not (
            (cnf is None or _text(jkt))
            and _text(subject)
            and _text(client_id)
            and _number(iat)
            and _number(nbf)
            and (exp is None or _number(exp))
            and isinstance(scope, str)
            and (jti is None or _text(jti))
            and isinstance(audience, list)
            and all(isinstance(a, str) for a in audience)
        ):
            raise InvalidToken("the token's claims are malformed")
        if now is not None and exp is not None and now >= exp:
            raise InvalidToken("the token has expired")
        if now is not None and now < nbf - CLOCK_SKEW:
            raise InvalidToken("the token is not valid yet")
        return Verified(
            token_type="JWT",
            management=management,
            client_id=client_id,
            subject=subject,
            username=None if subject == client_id else subject,
            scope=tuple(scope.split()),
            audience=tuple(audience),
            issued_at=int(iat),
            expires_at=None if exp is None else int(exp),
            issuer=issuer,
            namespace=namespace,
            jti=jti,
            jkt=jkt if isinstance(jkt, str) else None,
        )

    def _from_record(self, record: TokenRecord | None, snapshot: Snapshot, now: float) -> Verified:
        if record is None or record.kind != "access":
            raise InvalidToken("unknown token")
        if not record.live(now):
            raise InvalidToken("the token has expired or was revoked")
        return verified_record(record, self.issuer_url, snapshot)


def verified_record(record: TokenRecord, issuer_url: str, snapshot: Snapshot) -> Verified:
    """What a stored token says, in the shape of a verified one.

    A record stored before tokens carried their namespace belongs to its client's."""
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
        issuer=issuer_url + BASES[record.management],
        namespace=record.namespace or snapshot.client_namespace(record.client_id) or "",
        jkt=record.jkt or None,
    )


def _text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""


def _number(value: object) -> TypeGuard[float]:
    """A NumericDate (RFC 7519 §2): a JSON number, which ``true`` is not."""
    return isinstance(value, int | float) and not isinstance(value, bool)
