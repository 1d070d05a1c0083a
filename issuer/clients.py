"""Client authentication (RFC 6749 §2.3, §3.2.1; RFC 7523 §2.2; docs/api.md).

Pure: given a Snapshot and what the client presented, the authenticated
:class:`Client` or an OAuth error. What a grant allows (the seed's ``-`` secret, the
grant list) is the grant's own rule (:mod:`gatekey.issuer.grants`); this applies it.
"""

from datetime import datetime
from typing import NamedTuple

from gatekey.issuer.domain import Client
from gatekey.issuer.errors import InvalidClient, InvalidTarget, UnauthorizedClient
from gatekey.issuer.grants import GrantRules, rules_of
from gatekey.issuer.snapshot import (
    CredentialView,
    Generation,
    PolicyView,
    ProxyKeyClient,
    Snapshot,
)
from gatekey.operator.model import Target
from gatekey.operator.model.client_keys import Jwks
from gatekey.operator.model.vocabulary import BASES, LEAVES, Endpoint, Management, TokenType

DASH = "-"
"""The seed's ``client_secret`` where a grant's rules accept it (Policy mode only)."""

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
"""The client authentication methods every client-authenticating endpoint accepts (token,
introspection, revocation, regeneration): RFC 8414's ``*_auth_methods_supported``."""


class Presented(NamedTuple):
    """The client credentials a request carried (a NamedTuple: made on every request,
    cheaper than a frozen dataclass, as immutable)."""

    client_id: str
    secret: str | None
    basic: bool
    """Sent with HTTP Basic (``client_secret_basic``)."""
    assertion: str | None = None
    """A ``private_key_jwt`` client assertion (RFC 7523 §2.2), instead of a secret."""
    key_proven: bool = False
    """The assertion was verified against the client's keys and its ``jti`` spent."""


def authenticate(
    snapshot: Snapshot,
    endpoint: Endpoint,
    presented: Presented,
    grant_type: str,
    now: datetime,
    resource: str | None = None,
) -> Client:
    """The client ``presented`` authenticates as at ``endpoint`` for ``grant_type``, under
    that grant's rules."""
    rules = rules_of(grant_type)
    if rules is None:
        raise ValueError(f"{grant_type!r} is not a grant of the registry")
    if endpoint.management == "Policy":
        client = _proxy_key_client(snapshot, endpoint, presented, rules, now)
    else:
        client = _credential_client(snapshot, endpoint, presented, now)
    rules.authorize(client)
    return _narrowed(client, resource) if resource is not None else client


def authenticated_caller(
    snapshot: Snapshot, management: Management, presented: Presented, now: datetime
) -> tuple[str, Generation | None]:
    """The client id of a client calling introspection or revocation, and which secret
    generation authenticated (None: a verified client assertion).

    These need the real secret (never the seed's ``-``) or a client assertion: Policy
    mode, the proxy key of a target with a policy; ACL mode, an enabled Credential.
    """
    secret = presented.secret
    used: Generation | None = None
    if management == "Policy":
        key = snapshot.proxy_keys.get(presented.client_id)
        if key is not None and presented.key_proven:
            return presented.client_id, None
        if key is not None and secret is not None:
            used = key.secret.matches(secret, now)
    else:
        cred = snapshot.credentials.get(presented.client_id)
        live = cred is not None and cred.enabled_at(now)
        if cred is not None and live and presented.key_proven:
            return presented.client_id, None
        if cred is not None and secret is not None and live:
            used = cred.secret.matches(secret, now)
    if used is None:
        raise InvalidClient("client authentication failed", basic=presented.basic)
    return presented.client_id, used


def client_jwks(
    snapshot: Snapshot, management: Management, client_id: str, token_type: TokenType | None
) -> tuple[Jwks, ...]:
    """The JWK Sets ``client_id`` may sign client assertions with (RFC 7523 §2.2).

    Policy mode: the ``proxyKeyJwks`` of the target's policy of ``token_type`` at a token
    endpoint, or of any of its policies at the endpoints every type shares (introspection,
    revocation). ACL mode: the Credential's ``jwks``."""
    if management == "Policy":
        key = snapshot.proxy_keys.get(client_id)
        if key is None:
            return ()
        if token_type is None:
            policies = list(key.policies.values())
        else:
            policies = [p for t, p in key.policies.items() if t == token_type]
        return tuple(p.spec.proxy_key_jwks for p in policies if p.spec.proxy_key_jwks)
    cred = snapshot.credentials.get(client_id)
    return () if cred is None or cred.spec.jwks is None else (cred.spec.jwks,)


def assertion_audiences(issuer_url: str, management: Management, path: str) -> tuple[str, ...]:
    """The ``aud`` values a client assertion sent to ``path`` may name (RFC 7523 §3 item 3:
    the server's identity): the issuer identifier and the URL it was sent to; at the other
    endpoints of a base also that base's token endpoints, which clients name as the
    server's identity wherever they authenticate."""
    origin = issuer_url.rstrip("/")
    base = BASES[management]
    mine = (origin + base, origin + path)
    token_paths = {f"{base}/{leaf}" for leaf in LEAVES.values()}
    if path in token_paths:
        return mine
    return mine + tuple(origin + p for p in sorted(token_paths))


def policy_for_url_parameters(
    snapshot: Snapshot, endpoint: Endpoint, client_id: str, now: datetime
) -> PolicyView | None:
    """The policy that decides whether this client may use GET with URL parameters."""
    if endpoint.management == "Policy":
        key = snapshot.proxy_keys.get(client_id)
        return None if key is None else key.policies.get(endpoint.type)
    cred = snapshot.credentials.get(client_id)
    if cred is None:
        return None
    targets = _acl_targets(snapshot, endpoint, cred, now)
    return targets[0] if targets else None


def _proxy_key_client(
    snapshot: Snapshot, endpoint: Endpoint, presented: Presented, rules: GrantRules, now: datetime
) -> Client:
    key = snapshot.proxy_keys.get(presented.client_id)
    policy = None if key is None else key.policies.get(endpoint.type)
    if key is None or policy is None:
        raise InvalidClient("unknown client", basic=presented.basic)
    used = _check_proxy_key_secret(key, endpoint, presented, rules, now)
    # Everything a proxy-key client holds comes from the snapshot: the one made for the
    # first request serves the next ones (its audience computed once). Only
    # authenticated clients get in, so the table stays within the snapshot's keys.
    made = snapshot.made
    slot = ("proxy-key client", key.client_id, endpoint.path, used)
    client: Client | None = made.get(slot)
    if client is None:
        client = made[slot] = Client(
            client_id=key.client_id,
            endpoint=endpoint,
            policy=policy,
            targets=(policy,),
            token=policy.token,
            grant_types=frozenset(policy.spec.grant_types),
            held_scopes=snapshot.target_roles.get(key.target, frozenset()),
            secret=used,
        )
    return client


def _check_proxy_key_secret(
    key: ProxyKeyClient, endpoint: Endpoint, presented: Presented, rules: GrantRules, now: datetime
) -> Generation | None:
    """The seed's rules: ``-`` stands in for the secret where the grant's rules say so.
    Which secret generation authenticated (None: the ``-``, or a client assertion)."""
    secret = presented.secret
    if presented.key_proven:  # private_key_jwt (RFC 7523 §2.2): no secret generation
        return None
    if secret is None:
        raise InvalidClient("client authentication is required", basic=presented.basic)
    if secret == DASH and rules.dash_allowed(endpoint.type):
        return None
    used = key.secret.matches(secret, now)
    if used is not None:
        return used
    raise InvalidClient("client authentication failed", basic=presented.basic)


def _credential_client(
    snapshot: Snapshot, endpoint: Endpoint, presented: Presented, now: datetime
) -> Client:
    cred = snapshot.credentials.get(presented.client_id)
    secret = presented.secret
    used = None if cred is None or secret is None else cred.secret.matches(secret, now)
    if cred is None or (used is None and not presented.key_proven):
        raise InvalidClient("client authentication failed", basic=presented.basic)
    if not cred.enabled_at(now):
        raise InvalidClient("client is disabled or expired", basic=presented.basic)
    targets = _acl_targets(snapshot, endpoint, cred, now)
    if not targets:
        raise UnauthorizedClient(
            f"no ACL entry of this client names a target with an ACL-mode {endpoint.type} policy"
        )
    return Client(
        client_id=cred.client_id,
        endpoint=endpoint,
        policy=targets[0],
        targets=targets,
        token=cred.token,
        grant_types=frozenset(cred.token.grant_types),
        held_scopes=snapshot.credential_roles.get((cred.namespace, cred.name), frozenset()),
        credential=cred,
        secret=used,
    )


def _acl_targets(
    snapshot: Snapshot, endpoint: Endpoint, cred: CredentialView, now: datetime
) -> tuple[PolicyView, ...]:
    """ACL-mode policies of the endpoint's type on the live ACL entries, in ACL order."""
    found: dict[str, PolicyView] = {}
    for entry in cred.acl_at(now):
        policy = snapshot.acl_policies.get(
            (Target(cred.namespace, entry.kind, entry.name), endpoint.type)
        )
        if policy is not None:
            found.setdefault(policy.target.audience, policy)
    return tuple(found.values())


def _narrowed(client: Client, resource: str) -> Client:
    """RFC 8707: a token for one target only; a target outside the client's reach is refused."""
    kept = tuple(p for p in client.targets if p.target.audience == resource)
    if not kept:
        raise InvalidTarget(f"{resource} is not a target of this client")
    return client.narrowed(kept)
