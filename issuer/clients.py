"""Client authentication at the token endpoints (RFC 6749 §2.3, §3.2.1; docs/api.md).

Pure: given a Snapshot and what the client presented, the authenticated
:class:`Client` or an OAuth error.
"""

from dataclasses import dataclass, replace
from datetime import datetime

from gatekey.issuer.errors import InvalidClient, InvalidTarget, UnauthorizedClient
from gatekey.issuer.grants.context import Client, Endpoint
from gatekey.issuer.snapshot import (
    CredentialView,
    Generation,
    PolicyView,
    ProxyKeyClient,
    Snapshot,
)
from gatekey.operator.model import Target
from gatekey.operator.model.client_keys import Jwks

DASH = "-"
"""The seed's ``client_secret`` for password grants and JWT refresh in Policy mode."""


@dataclass(frozen=True)
class Presented:
    """The client credentials a request carried."""

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
    """The client ``presented`` authenticates as at ``endpoint`` for ``grant_type``."""
    if endpoint.management == "Policy":
        client = _proxy_key_client(snapshot, endpoint, presented, grant_type, now)
    else:
        client = _credential_client(snapshot, endpoint, presented, now)
    if grant_type == "refresh_token":
        if not client.token.refreshable:
            raise UnauthorizedClient("token refresh is not enabled for this client")
    elif grant_type not in client.grant_types:
        raise UnauthorizedClient(f"grant type {grant_type} is not allowed for this client")
    return _narrowed(client, resource) if resource is not None else client


def authenticate_caller(
    snapshot: Snapshot, management: str, presented: Presented, now: datetime
) -> str:
    """The client id of a client calling introspection, revocation or regeneration.

    These need the real secret (never the seed's ``-``): Policy mode, the proxy key
    of a target with a policy; ACL mode, an enabled Credential.
    """
    return authenticated_caller(snapshot, management, presented, now)[0]


def authenticated_caller(
    snapshot: Snapshot, management: str, presented: Presented, now: datetime
) -> tuple[str, Generation]:
    """:func:`authenticate_caller`, and which secret generation authenticated."""
    secret = presented.secret
    used: Generation | None = None
    if management == "Policy":
        key = snapshot.proxy_keys.get(presented.client_id)
        if key is not None and secret is not None:
            used = key.secret.matches(secret, now)
    else:
        cred = snapshot.credentials.get(presented.client_id)
        if cred is not None and secret is not None and cred.enabled_at(now):
            used = cred.secret.matches(secret, now)
    if used is None:
        raise InvalidClient("client authentication failed", basic=presented.basic)
    return presented.client_id, used


def client_jwks(snapshot: Snapshot, endpoint: Endpoint, client_id: str) -> Jwks | None:
    """The public keys ``client_id`` may sign client assertions with at ``endpoint``."""
    if endpoint.management == "Policy":
        key = snapshot.proxy_keys.get(client_id)
        policy = None if key is None else key.policies.get(endpoint.type)
        return None if policy is None else policy.spec.proxy_key_jwks
    cred = snapshot.credentials.get(client_id)
    return None if cred is None else cred.spec.jwks


def resolve_client(
    snapshot: Snapshot, endpoint: Endpoint, presented: Presented, now: datetime
) -> Client:
    """The client at ``endpoint`` with its real secret, whatever grants it may use."""
    if endpoint.management == "Policy":
        return _proxy_key_client(snapshot, endpoint, presented, "client_credentials", now)
    return _credential_client(snapshot, endpoint, presented, now)


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
    snapshot: Snapshot, endpoint: Endpoint, presented: Presented, grant_type: str, now: datetime
) -> Client:
    key = snapshot.proxy_keys.get(presented.client_id)
    policy = None if key is None else key.policies.get(endpoint.type)
    if key is None or policy is None:
        raise InvalidClient("unknown client", basic=presented.basic)
    used = _check_proxy_key_secret(key, endpoint, presented, grant_type, now)
    return Client(
        client_id=key.client_id,
        endpoint=endpoint,
        policy=policy,
        targets=(policy,),
        token=policy.token,
        grant_types=frozenset(policy.spec.grant_types),
        held_scopes=snapshot.target_roles.get(key.target, frozenset()),
        secret=used,
    )


def _check_proxy_key_secret(
    key: ProxyKeyClient, endpoint: Endpoint, presented: Presented, grant_type: str, now: datetime
) -> Generation | None:
    """The seed's rules: ``-`` stands in for the secret for password, and for JWT refresh.
    Which secret generation authenticated (None: the ``-``)."""
    secret = presented.secret
    if presented.key_proven:  # private_key_jwt (RFC 7523 §2.2): no secret generation
        return None
    if secret is None:
        raise InvalidClient("client authentication is required", basic=presented.basic)
    dash_allowed = grant_type == "password" or (
        grant_type == "refresh_token" and endpoint.type == "JWT"
    )
    if secret == DASH and dash_allowed:
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
    policy = client.policy if client.policy in kept else kept[0]
    return replace(client, policy=policy, targets=kept)
