"""The Snapshot and the views it holds: what the token endpoints read (pure, immutable).

Built by :mod:`gatekey.issuer.snapshot_index` from the rendered objects; every field
is indexed for O(1) look-ups on the request path.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gatekey.issuer.client_secret import ClientSecret
from gatekey.issuer.routes import CompiledRoutes
from gatekey.operator.model import Target, TokenManagement
from gatekey.operator.model.authpolicy import AuthPolicySpec, PolicyToken
from gatekey.operator.model.credential import AclEntry, CredentialSpec, CredentialToken
from gatekey.operator.signing_keys import SigningKey, active_key


@dataclass(frozen=True)
class UserPool:
    """An authentication pool: user name -> password hash (bcrypt or argon2id)."""

    name: str
    users: Mapping[str, str]


@dataclass(frozen=True)
class PolicyView:
    """An AuthPolicy as the issuer applies it."""

    namespace: str
    name: str
    spec: AuthPolicySpec
    target: Target
    audience: tuple[str, ...]
    settings: TokenManagement
    pool: UserPool | None
    routes: CompiledRoutes | None = None
    """The per-route rules ``/authz`` applies to this policy's tokens, compiled."""

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def token(self) -> PolicyToken:
        return self.spec.token


@dataclass(frozen=True)
class ProxyKeyClient:
    """The proxy key of a target: the client of "Manage From This Policy" policies."""

    client_id: str
    secret: ClientSecret
    target: Target
    policies: Mapping[str, PolicyView]
    """The target's Policy-mode policies by type (``JWT``, ``OAuth2``)."""


@dataclass(frozen=True)
class ResolvedClaim:
    """A Credential Metadata entry with its value."""

    key: str
    jwt_name: str
    value: str
    in_jwt: bool
    in_response: bool


@dataclass(frozen=True)
class CredentialView:
    """A Credential as the issuer applies it."""

    namespace: str
    name: str
    client_id: str
    secret: ClientSecret
    spec: CredentialSpec
    secret_name: str
    claims: tuple[ResolvedClaim, ...]

    @property
    def token(self) -> CredentialToken:
        return self.spec.token

    def acl_at(self, now: datetime) -> tuple[AclEntry, ...]:
        """The ACL entries in force at ``now`` (past ``expiresAt`` ones left out)."""
        return tuple(e for e in self.spec.acl if e.expires_at is None or now < e.expires_at)

    def enabled_at(self, now: datetime) -> bool:
        """Not disabled and not past ``expiresAt``."""
        expires = self.spec.expires_at
        return not self.spec.disabled and (expires is None or now < expires)

    def changes_after(self, now: float) -> float:
        """The instant (POSIX seconds) from which :meth:`enabled_at` or :meth:`acl_at` may
        answer otherwise than at ``now``: the first ``expiresAt`` still ahead, its own or
        an ACL entry's, a millisecond early (``instant(now)`` rounds to the microsecond).
        The margin is taken after choosing the end: an end less than a millisecond
        ahead gives an instant already past, not the next end."""
        spec = self.spec
        ends = [spec.expires_at, *(e.expires_at for e in spec.acl)]
        ahead = [t for t in (end.timestamp() for end in ends if end is not None) if t > now]
        return min(ahead, default=math.inf) - 1e-3


@dataclass(frozen=True, slots=True)
class NamespacedKey:
    """A signing key and the namespace whose Secret holds it: the namespace is part of a
    JWT's identity, since ``aud`` values name targets without one."""

    namespace: str
    key: SigningKey


@dataclass(frozen=True)
class UserRole:
    scope: str
    pool: str | None


@dataclass(frozen=True)
class Snapshot:
    """Everything the token endpoints need, indexed for O(1) look-ups."""

    proxy_keys: Mapping[str, ProxyKeyClient] = field(default_factory=dict)
    credentials: Mapping[str, CredentialView] = field(default_factory=dict)
    acl_policies: Mapping[tuple[Target, str], PolicyView] = field(default_factory=dict)
    target_roles: Mapping[Target, frozenset[str]] = field(default_factory=dict)
    credential_roles: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    user_roles: Mapping[tuple[str, str], tuple[UserRole, ...]] = field(default_factory=dict)
    signing_keys: Mapping[str, tuple[SigningKey, ...]] = field(default_factory=dict)
    """Keys per namespace."""
    jwks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The public JWKS of each namespace (RFC 7517 §5)."""
    errors: tuple[str, ...] = ()
    """Objects skipped, as ``Kind namespace/name: reason``."""
    url_parameters: frozenset[tuple[str, str]] = frozenset()
    """``(management, type)`` pairs where some policy allows URL parameters."""
    verification_keys: Mapping[str, tuple[NamespacedKey, ...]] = field(default_factory=dict)
    """Every signing key by ``kid``. Two namespaces may publish the same ``kid`` (a kid is
    no secret): each candidate is tried, and the one whose signature checks out says
    which namespace signed."""
    proxy_groups: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    """``(namespace, ApiProxy name)`` -> the audiences of its groups (``ProxyGroup/shop``)."""
    proxies: frozenset[tuple[str, str]] = frozenset()
    """Every ApiProxy a policy names, as target or group member, as ``(namespace, name)``."""
    namespaces: frozenset[str] = frozenset()
    """Every namespace with a policy."""
    scopes: frozenset[str] = frozenset()
    """Every scope a Role defines."""
    made: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)
    """What request handling derived from this snapshot alone, kept for its next requests
    (the proxy-key clients of :mod:`gatekey.issuer.clients`): it lives and dies with the
    snapshot, so it never outlives the configuration it was made from."""

    def user_scopes(self, namespace: str, pool: str, username: str) -> frozenset[str]:
        """Scopes a user of ``pool`` holds through Roles of ``namespace``."""
        held = self.user_roles.get((namespace, username), ())
        return frozenset(r.scope for r in held if r.pool is None or r.pool == pool)

    def signing_key(self, namespace: str, alg: str, now: datetime) -> SigningKey | None:
        """The key signing ``alg`` tokens in ``namespace`` at ``now``."""
        return active_key(self.signing_keys.get(namespace, ()), alg, now)

    def client_namespace(self, client_id: str) -> str | None:
        """The namespace of the client that holds ``client_id``, if any does."""
        key = self.proxy_keys.get(client_id)
        if key is not None:
            return key.target.namespace
        cred = self.credentials.get(client_id)
        return None if cred is None else cred.namespace
