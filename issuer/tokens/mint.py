"""Turn a grant's decision into tokens: sign or store them, then shape the response."""

import hashlib
from dataclasses import dataclass
from typing import Any

from gatekey.issuer.domain import Chain, Grant, GrantContext
from gatekey.issuer.errors import ServerError
from gatekey.issuer.grants.refresh_token import rotate
from gatekey.issuer.store.base import ChainJwt, TokenRecord
from gatekey.issuer.tokens.jwt_signer import JwtSigner
from gatekey.issuer.tokens.opaque import ACCESS_PREFIX, REFRESH_PREFIX, new_id, new_token
from gatekey.issuer.tokens.response import token_response
from gatekey.operator.model import duration_seconds


@dataclass(frozen=True)
class Minted:
    """The response body, and what the audit line says about it."""

    body: dict[str, Any]
    jti: str | None


class Minter:
    """Issues the tokens of a grant."""

    def __init__(
        self, issuer_url: str, signer: JwtSigner | None = None, *, omit_empty_scope: bool = False
    ) -> None:
        self.issuer_url = issuer_url.rstrip("/")
        self.signer = signer or JwtSigner()
        self.omit_empty_scope = omit_empty_scope

    async def mint(self, grant: Grant, ctx: GrantContext, *, refresh: bool = True) -> Minted:
        """Sign or store the access token (and a refresh token when the settings and
        ``refresh`` allow), then shape the response."""
        client = grant.client
        settings = client.token
        iat = int(ctx.now)
        ttl = None if settings.immortal else settings.ttl_seconds
        chain = grant.chain or Chain(new_id(), ctx.now, 0)
        grant_key = _grant_key(grant)
        records: list[TokenRecord] = []

        def record(digest: str, kind: str, expires_at: float | None) -> TokenRecord:
            return TokenRecord(
                digest=digest,
                kind="refresh" if kind == "refresh" else "access",
                chain_id=chain.chain_id,
                grant_key=grant_key,
                client_id=client.client_id,
                subject=grant.subject,
                username=grant.username,
                scope=grant.scope,
                audience=grant.audience,
                token_type=client.endpoint.type,
                management=client.endpoint.management,
                issued_at=ctx.now,
                expires_at=expires_at,
                chain_started_at=chain.started_at,
                refresh_count=chain.refresh_count,
                namespace=client.policy.namespace,
                jkt=grant.jkt or "",
            )

        jti = None
        expires_at = None if ttl is None else iat + ttl
        if client.endpoint.type == "JWT":
            jti = new_id()
            access = self._jwt(grant, ctx, iat, ttl, jti)
        else:
            access, digest = new_token(ACCESS_PREFIX)
            records.append(record(digest, "access", expires_at))
        refresh_token = None
        jwts: list[ChainJwt] = []
        if refresh and settings.refreshable:
            refresh_token, digest = new_token(REFRESH_PREFIX)
            window = duration_seconds(settings.refresh.ttl)
            records.append(record(digest, "refresh", chain.started_at + window))
            if jti is not None:  # revoking the chain must reach this JWT too
                jwts.append(ChainJwt(jti, chain.chain_id, expires_at))
        if settings.revoke_previous and client.endpoint.type == "OAuth2" and grant.chain is None:
            await ctx.store.revoke_grant(grant_key)
        if grant.chain is not None and grant.chain.rotates is not None:
            # The old refresh token is used up here, in the same step that stores its
            # successors: if another request used it first, or the chain was revoked
            # meanwhile, nothing minted here is stored and nothing is answered.
            await rotate(grant, ctx, records, jwts)
        elif records:
            await ctx.store.add(*records, jwts=jwts)
        body = token_response(
            access_token=access,
            refresh_token=refresh_token,
            ttl=ttl,
            scope=grant.scope,
            settings=client.policy.settings.response,
            metadata=client.credential.claims if client.credential else (),
            omit_empty_scope=self.omit_empty_scope,
            token_type="DPoP" if grant.jkt else "Bearer",
        )
        return Minted(body, jti)

    def _jwt(self, grant: Grant, ctx: GrantContext, iat: int, ttl: int | None, jti: str) -> str:
        client = grant.client
        policy = client.policy
        key = ctx.snapshot.signing_key(policy.namespace, policy.token.algorithm, ctx.instant)
        if key is None:
            raise ServerError("the issuer has no signing key for this policy")
        claims: dict[str, Any] = {}
        if client.credential is not None:
            claims |= {c.jwt_name: c.value for c in client.credential.claims if c.in_jwt}
        claims |= {
            "iss": self.issuer_url + client.endpoint.base,
            "sub": grant.subject,
            "aud": list(grant.audience),
            "client_id": client.client_id,
            "iat": iat,
            "nbf": iat,
            "jti": jti,
        }
        if ttl is not None:
            claims["exp"] = iat + ttl
        if grant.scope:  # RFC 9068 §2.2.3: no empty scope claim
            claims["scope"] = " ".join(grant.scope)
        if grant.jkt:
            claims["cnf"] = {"jkt": grant.jkt}  # RFC 9449 §6.1
        return self.signer.sign(claims, key, policy.namespace)


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
