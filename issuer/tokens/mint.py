"""Turn a grant's decision into tokens: sign or store them, then shape the response."""

import hashlib
from typing import Any, NamedTuple

from gatekey.issuer.clock import instant
from gatekey.issuer.domain import Chain, Grant, GrantContext
from gatekey.issuer.errors import ServerError
from gatekey.issuer.grants.refresh_token import rotate
from gatekey.issuer.snapshot import Snapshot
from gatekey.issuer.store.base import ChainJwt, TokenKind, TokenRecord
from gatekey.issuer.tokens.jwt_signer import JwtSigner
from gatekey.issuer.tokens.opaque import ACCESS_PREFIX, REFRESH_PREFIX, new_id, new_token
from gatekey.issuer.tokens.response import ResponseTemplate, response_template, token_response
from gatekey.operator.model import duration_seconds
from gatekey.operator.signing_keys import SigningKey


class Minted(NamedTuple):
    """The response body, and what the audit line says about it."""

    body: dict[str, Any]
    jti: str | None


class Prepared(NamedTuple):
    """What every token of one grant shares, worked out once for it (a remembered grant
    keeps it: :mod:`gatekey.issuer.http.grant_cache`)."""

    claims: dict[str, Any]
    """The JWT claims but each token's own (``iat``, ``nbf``, ``jti``, ``exp``); empty
    for opaque tokens."""
    response: ResponseTemplate
    refreshable: bool
    """A refresh token comes with the access token."""


class Minter:
    """Issues the tokens of a grant."""

    def __init__(
        self, issuer_url: str, signer: JwtSigner | None = None, *, omit_empty_scope: bool = False
    ) -> None:
        self.issuer_url = issuer_url.rstrip("/")
        self.signer = signer or JwtSigner()
        self.omit_empty_scope = omit_empty_scope
        self._keys = _ActiveKeys()

    def prepare(self, grant: Grant, *, refresh: bool = True) -> Prepared:
        """The claims and the response fields of ``grant``'s tokens (a refresh token with
        them when the settings and ``refresh`` allow)."""
        client = grant.client
        settings = client.token
        credential = client.credential
        refreshable = refresh and settings.refreshable
        response = response_template(
            ttl=None if settings.immortal else settings.ttl_seconds,
            scope=grant.scope,
            settings=client.policy.settings.response,
            metadata=credential.claims if credential else (),
            omit_empty_scope=self.omit_empty_scope,
            token_type="DPoP" if grant.jkt else "Bearer",
            refresh=refreshable,
        )
        if client.endpoint.type != "JWT":
            return Prepared({}, response, refreshable)
        claims: dict[str, Any] = (
            {c.jwt_name: c.value for c in credential.claims if c.in_jwt}
            if credential is not None and credential.claims
            else {}
        )
        claims["iss"] = self.issuer_url + client.endpoint.base
        claims["sub"] = grant.subject
        claims["aud"] = grant.audience
        claims["client_id"] = client.client_id
        if grant.scope:  # RFC 9068 §2.2.3: no empty scope claim
            claims["scope"] = " ".join(grant.scope)
        if grant.jkt:
            claims["cnf"] = {"jkt": grant.jkt}  # RFC 9449 §6.1
        return Prepared(claims, response, refreshable)

    async def mint(
        self, grant: Grant, ctx: GrantContext, prepared: Prepared | None = None
    ) -> Minted:
        """Sign or store the access token (and a refresh token where ``prepared`` says so),
        then shape the response; ``prepared`` defaults to :meth:`prepare`'s."""
        if prepared is None:
            prepared = self.prepare(grant)
        client = grant.client
        settings = client.token
        endpoint = client.endpoint
        iat = int(ctx.now)
        ttl = None if settings.immortal else settings.ttl_seconds
        expires_at = None if ttl is None else iat + ttl
        refreshable = prepared.refreshable
        jti = None
        records: list[TokenRecord] = []
        jwts: list[ChainJwt] = []
        if endpoint.type == "JWT":
            jti = new_id()
            access = self._jwt(grant, prepared.claims, ctx, iat, expires_at, jti)
            opaque_digest = None
        else:
            access, opaque_digest = new_token(ACCESS_PREFIX)
        refresh_token = None
        # The chain and the grant key only matter to stored tokens (a bare JWT has none).
        if opaque_digest is not None or refreshable or settings.revoke_previous:
            chain = grant.chain or Chain(new_id(), ctx.now, 0)
            grant_key = _grant_key(grant)

            def record(digest: str, kind: TokenKind, until: float | None) -> TokenRecord:
                return TokenRecord(
                    digest=digest,
                    kind=kind,
                    chain_id=chain.chain_id,
                    grant_key=grant_key,
                    client_id=client.client_id,
                    subject=grant.subject,
                    username=grant.username,
                    scope=grant.scope,
                    audience=grant.audience,
                    token_type=endpoint.type,
                    management=endpoint.management,
                    issued_at=ctx.now,
                    expires_at=until,
                    chain_started_at=chain.started_at,
                    refresh_count=chain.refresh_count,
                    namespace=client.policy.namespace,
                    jkt=grant.jkt or "",
                )

            if opaque_digest is not None:
                records.append(record(opaque_digest, "access", expires_at))
            if refreshable:
                refresh_token, digest = new_token(REFRESH_PREFIX)
                window = duration_seconds(settings.refresh.ttl)
                records.append(record(digest, "refresh", chain.started_at + window))
                if jti is not None:  # revoking the chain must reach this JWT too
                    jwts.append(ChainJwt(jti, chain.chain_id, expires_at))
            if settings.revoke_previous and endpoint.type == "OAuth2" and grant.chain is None:
                await ctx.store.revoke_grant(grant_key)
        if grant.chain is not None and grant.chain.rotates is not None:
            # The old refresh token is used up here, in the same step that stores its
            # successors: if another request used it first, or the chain was revoked
            # meanwhile, nothing minted here is stored and nothing is answered.
            await rotate(grant, ctx, records, jwts)
        elif records:
            await ctx.store.add(*records, jwts=jwts)
        return Minted(token_response(prepared.response, access, refresh_token), jti)

    def _jwt(
        self,
        grant: Grant,
        shared: dict[str, Any],
        ctx: GrantContext,
        iat: int,
        exp: int | None,
        jti: str,
    ) -> str:
        """The signed JWT: the grant's ``shared`` claims and this token's own."""
        policy = grant.client.policy
        key = self._keys.active(ctx.snapshot, policy.namespace, policy.token.algorithm, ctx.now)
        if key is None:
            raise ServerError("the issuer has no signing key for this policy")
        claims = {**shared, "iat": iat, "nbf": iat, "jti": jti}
        if exp is not None:
            claims["exp"] = exp
        return self.signer.sign(claims, key, policy.namespace)


class _ActiveKeys:
    """The signing key in force per namespace and algorithm, remembered for the time it
    stays in force: until a newer key's ``notBefore`` (or a new snapshot). Choosing it
    compares datetimes over every key of the namespace; this is one look-up and a float
    comparison."""

    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._found: dict[tuple[str, str], tuple[SigningKey | None, float, float]] = {}

    def active(self, snapshot: Snapshot, namespace: str, alg: str, now: float) -> SigningKey | None:
        if snapshot is not self._snapshot:
            self._snapshot, self._found = snapshot, {}
        slot = (namespace, alg)
        found = self._found.get(slot)
        if found is not None and found[1] <= now < found[2]:
            return found[0]
        keys = [k for k in snapshot.signing_keys.get(namespace, ()) if k.alg == alg]
        key = snapshot.signing_key(namespace, alg, instant(now))
        since = key.not_before.timestamp() if key is not None else float("-inf")
        later = [k.not_before.timestamp() for k in keys if k.not_before.timestamp() > now]
        self._found[slot] = (key, since, min(later, default=float("inf")))
        return key


def _grant_key(grant: Grant) -> str:
    """Who got a token from whom for what: the unit ``revokePrevious`` works on."""
    client = grant.client
    parts = (
        client.endpoint.management,
        client.endpoint.type,
        client.client_id,
        grant.subject,
        *sorted(grant.audience),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
