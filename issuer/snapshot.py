"""The issuer's Snapshot: an immutable, indexed view of the rendered objects (pure).

Built only from the Secrets and ConfigMaps of the operator -> issuer contract
(``gatekey.operator.contract``), never from the CRs, so that the cluster watch
and the embedded mode feed it the same way. A malformed object is skipped and
reported in :attr:`Snapshot.errors`; it never poisons the rest.
"""

import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast, get_args

from gatekey.issuer.client_ids import ClientIdClaim, Holder, award_client_ids
from gatekey.issuer.routes import CompiledRoutes, compile_routes
from gatekey.operator import contract
from gatekey.operator.contract import Manifest
from gatekey.operator.model import Target, TokenManagement
from gatekey.operator.model.authpolicy import AuthPolicySpec, PolicyToken
from gatekey.operator.model.credential import AclEntry, Claim, CredentialSpec, CredentialToken
from gatekey.operator.model.role import RoleSpec
from gatekey.operator.model.token_management import ResponseField
from gatekey.operator.rotation import previous_expiry
from gatekey.operator.signing_keys import SigningKey, active_key

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


SpecModel = AuthPolicySpec | CredentialSpec | RoleSpec
RESPONSE_FIELD_NAMES: tuple[ResponseField, ...] = get_args(ResponseField)


class ParseCache:
    """What one build hands to the next: parsed payloads, and who held each client id.

    Payloads are keyed by their text. Rebuilding after one object changed then costs
    dictionary work for the others, not JSON decoding and validation: a change to one
    Credential among 10,000 does not parse the 9,999 again. Only entries used by the
    latest build are kept. The holders let a clash keep the client id where it was.
    """

    def __init__(self) -> None:
        self._previous: dict[tuple[str, str], tuple[dict[str, Any], SpecModel]] = {}
        self._current: dict[tuple[str, str], tuple[dict[str, Any], SpecModel]] = {}
        self.holders: dict[str, Holder] = {}
        """client id -> the object that held it in the latest build."""

    def parse(
        self, key: str, text: str, model: type[SpecModel]
    ) -> tuple[dict[str, Any], SpecModel]:
        """The payload ``text`` (JSON) and its validated ``spec``."""
        slot = (key, text)
        found = self._current.get(slot) or self._previous.get(slot)
        if found is None:
            loaded = json.loads(text)
            if not isinstance(loaded, dict):
                raise TypeError(f"{key} is not an object")
            # The validated spec replaces its raw form: 10,000 Credentials are held once.
            found = (loaded, model.model_validate(loaded.pop("spec")))
        self._current[slot] = found
        return found

    def finish(self) -> None:
        """End a build: forget what it did not use."""
        self._previous, self._current = self._current, {}


def build_snapshot(
    objects: Iterable[Manifest], defaults: TokenManagement, cache: ParseCache | None = None
) -> Snapshot:
    """Index the rendered objects; ``defaults`` are the issuer-wide Token Management Settings.

    Pass the same ``cache`` to successive builds to parse only what changed. Pure: the
    callers that own the process pause the garbage collector around it
    (:func:`~gatekey.issuer.config_source.build_paused`).
    """
    cache = cache or ParseCache()
    try:
        return _Builder(defaults, cache).build(objects)
    finally:
        cache.finish()


class _Builder:
    def __init__(self, defaults: TokenManagement, cache: ParseCache) -> None:
        self.defaults = defaults
        self.cache = cache
        self.errors: list[str] = []

    def build(self, objects: Iterable[Manifest]) -> Snapshot:
        by_kind: dict[str, list[Manifest]] = defaultdict(list)
        secrets: dict[tuple[str, str], dict[str, str]] = {}
        created: dict[tuple[str, str], str | None] = {}
        for obj in objects:
            kind = contract.config_kind(obj)
            if kind is None:
                continue
            if obj.get("kind") == "Secret":
                meta = obj["metadata"]
                try:
                    secrets[(meta["namespace"], meta["name"])] = contract.secret_values(obj)
                    created[(meta["namespace"], meta["name"])] = meta.get("creationTimestamp")
                except (ValueError, KeyError, TypeError) as exc:
                    self._skip(obj, exc)
                    continue
            by_kind[kind].append(obj)

        loaded = [p for o in by_kind["authpolicy"] if (p := self._policy(o, secrets))]
        policies = [view for view, _ in loaded]
        acl_policies = {(p.target, p.type): p for p in policies if p.spec.management == "ACL"}
        claims: list[ClientIdClaim[ProxyKeyClient | CredentialView]] = []
        for ns_secret, key in self._proxy_keys(loaded, secrets).items():
            identity = ("Secret", *ns_secret)
            claims.append(ClientIdClaim(key.client_id, identity, created.get(ns_secret), key))
        for obj in by_kind["credential"]:
            view = self._credential(obj, secrets)
            if view is None:
                continue
            clash = _response_name_clash(view, acl_policies, self.defaults)
            if clash:
                self._skip(obj, ValueError(f"claim key {clash!r} is a configured response field"))
                continue
            stamp = created.get((view.namespace, view.secret_name))
            identity = ("Credential", view.namespace, view.name)
            claims.append(ClientIdClaim(view.client_id, identity, stamp, view))
        held, refused = award_client_ids(claims, self.cache.holders)
        for claim, holder in refused:
            kind, ns, name = claim.identity
            if holder is not None:
                reason = "held by {} {}/{}".format(*holder.identity)
            elif claim.client_id in self.cache.holders:
                reason = "held by {} {}/{}".format(*self.cache.holders[claim.client_id])
            else:
                reason = "claimed by several objects; no one holds it until that is resolved"
            reason = f"client id {claim.client_id} is {reason}"
            self.errors.append(f"{kind} {ns}/{name}: skipped (ClientIdConflict: {reason})")
        self.cache.holders |= {cid: claim.identity for cid, claim in held.items()}
        proxy_keys = {
            cid: c.client for cid, c in held.items() if isinstance(c.client, ProxyKeyClient)
        }
        credentials = {
            cid: c.client for cid, c in held.items() if isinstance(c.client, CredentialView)
        }
        target_roles: dict[Target, set[str]] = defaultdict(set)
        credential_roles: dict[tuple[str, str], set[str]] = defaultdict(set)
        user_roles: dict[tuple[str, str], list[UserRole]] = defaultdict(list)
        for obj in by_kind["role"]:
            try:
                role, role_spec = self._parsed(obj, contract.ROLE_KEY, RoleSpec)
                ns, scope = obj["metadata"]["namespace"], str(role["scope"])
                subjects = cast(RoleSpec, role_spec).subjects
            except (ValueError, KeyError, TypeError) as exc:
                self._skip(obj, exc)
                continue
            for subject in subjects:
                if subject.kind == "User":
                    user_roles[(ns, subject.name)].append(UserRole(scope, subject.pool))
                elif subject.kind == "Credential":
                    credential_roles[(ns, subject.name)].add(scope)
                else:
                    target_roles[Target(ns, subject.kind, subject.name)].add(scope)
        keys, jwks = self._keys(secrets, by_kind["signing-keys"])
        groups: dict[tuple[str, str], set[str]] = defaultdict(set)
        proxies: set[tuple[str, str]] = set()
        for policy in policies:
            if policy.target.kind == "ApiProxy":
                proxies.add((policy.namespace, policy.target.name))
            for member in policy.spec.target_ref.proxies:
                proxies.add((policy.namespace, member))
                groups[(policy.namespace, member)].add(policy.target.audience)
        verification: dict[str, list[NamespacedKey]] = defaultdict(list)
        for ns, ns_keys in keys.items():
            for signing in ns_keys:
                verification[signing.kid].append(NamespacedKey(ns, signing))
        return Snapshot(
            proxy_keys=proxy_keys,
            credentials=credentials,
            acl_policies=acl_policies,
            target_roles={t: frozenset(s) for t, s in target_roles.items()},
            credential_roles={k: frozenset(s) for k, s in credential_roles.items()},
            user_roles={k: tuple(v) for k, v in user_roles.items()},
            signing_keys=keys,
            jwks=jwks,
            errors=tuple(self.errors),
            url_parameters=frozenset(
                (p.spec.management, p.type) for p in policies if p.spec.allow_url_parameters
            ),
            verification_keys={kid: tuple(found) for kid, found in verification.items()},
            proxy_groups={proxy: frozenset(g) for proxy, g in groups.items()},
            proxies=frozenset(proxies),
            namespaces=frozenset(p.namespace for p in policies),
            scopes=frozenset(
                [s for held in (*target_roles.values(), *credential_roles.values()) for s in held]
                + [r.scope for held_by_user in user_roles.values() for r in held_by_user]
            ),
        )

    def _policy(
        self, obj: Manifest, secrets: Mapping[tuple[str, str], Mapping[str, str]]
    ) -> tuple[PolicyView, str | None] | None:
        try:
            loaded, parsed = self._parsed(obj, contract.AUTHPOLICY_KEY, AuthPolicySpec)
            spec = cast(AuthPolicySpec, parsed)
            ns = loaded["metadata"]["namespace"]
            pool = None
            if spec.user_pool is not None:
                htpasswd = secrets.get((ns, loaded["userPoolSecretName"] or ""), {})
                pool = UserPool(
                    spec.user_pool.secret_name,
                    parse_htpasswd(htpasswd.get(contract.HTPASSWD_KEY, "")),
                )
            view = PolicyView(
                namespace=ns,
                name=loaded["metadata"]["name"],
                spec=spec,
                target=Target(ns, spec.target_ref.kind, spec.target_ref.name),
                audience=tuple(loaded["audience"]),
                settings=self.defaults.overridden(spec.token_management),
                pool=pool,
                routes=None if spec.routes is None else compile_routes(spec.routes),
            )
        except (ValueError, KeyError, TypeError) as exc:
            self._skip(obj, exc)
            return None
        return view, loaded.get("proxyKeySecretName")

    def _proxy_keys(
        self,
        policies: list[tuple[PolicyView, str | None]],
        secrets: Mapping[tuple[str, str], Mapping[str, str]],
    ) -> dict[tuple[str, str], ProxyKeyClient]:
        """The proxy key of each ``(namespace, Secret name)`` Policy-mode policies name."""
        grouped: dict[tuple[str, str], list[PolicyView]] = defaultdict(list)
        for view, secret_name in policies:
            if view.spec.management == "Policy" and secret_name:
                grouped[(view.namespace, secret_name)].append(view)
        clients: dict[tuple[str, str], ProxyKeyClient] = {}
        for (ns, secret_name), views in grouped.items():
            values = secrets.get((ns, secret_name), {})
            client_id = values.get(contract.CLIENT_ID_KEY)
            secret = values.get(contract.CLIENT_SECRET_KEY)
            if not client_id or not secret:
                self.errors.append(f"Secret {ns}/{secret_name}: proxy key not found")
                continue
            clients[(ns, secret_name)] = ProxyKeyClient(
                client_id=client_id,
                secret=self._client_secret(f"Secret {ns}/{secret_name}", values),
                target=views[0].target,
                policies={v.type: v for v in views},
            )
        return clients

    def _credential(
        self, obj: Manifest, secrets: Mapping[tuple[str, str], Mapping[str, str]]
    ) -> CredentialView | None:
        try:
            loaded, parsed = self._parsed(obj, contract.CREDENTIAL_KEY, CredentialSpec)
            spec = cast(CredentialSpec, parsed)
            ns = loaded["metadata"]["namespace"]
            values = secrets[(ns, loaded["secretName"])]
            client_id = values.get(contract.CLIENT_ID_KEY) or loaded["clientId"]
            if not client_id or not values.get(contract.CLIENT_SECRET_KEY):
                raise ValueError("the client id or secret is empty")
            claims = tuple(
                ResolvedClaim(
                    key=c.key,
                    jwt_name=c.jwt_name,
                    value=_claim_value(c, ns, secrets),
                    in_jwt=c.in_jwt,
                    in_response=c.include_in_token_response,
                )
                for c in spec.claims
            )
            return CredentialView(
                namespace=ns,
                name=loaded["metadata"]["name"],
                client_id=client_id,
                secret=self._client_secret(f"Secret {ns}/{loaded['secretName']}", values),
                spec=spec,
                secret_name=loaded["secretName"],
                claims=claims,
            )
        except (ValueError, KeyError, TypeError) as exc:
            self._skip(obj, exc)
            return None

    def _client_secret(self, where: str, values: Mapping[str, str]) -> ClientSecret:
        """The current secret, and the previous one with its expiry if both are valid: a
        previous secret without a valid expiry is not honoured (fail closed) and reported."""
        current = values[contract.CLIENT_SECRET_KEY]
        try:
            until = previous_expiry(values)
        except ValueError as exc:
            self.errors.append(f"{where}: previous client secret ignored ({exc})")
            return ClientSecret.of(current)
        return ClientSecret.of(current, values.get(contract.PREVIOUS_CLIENT_SECRET_KEY), until)

    def _keys(
        self,
        secrets: Mapping[tuple[str, str], Mapping[str, str]],
        objects: list[Manifest],
    ) -> tuple[dict[str, tuple[SigningKey, ...]], dict[str, dict[str, Any]]]:
        keys: dict[str, tuple[SigningKey, ...]] = {}
        jwks: dict[str, dict[str, Any]] = {}
        for obj in objects:
            ns = obj["metadata"]["namespace"]
            try:
                raw = contract.payload(obj, contract.SIGNING_KEYS_KEY)
                keys[ns] = tuple(SigningKey.model_validate(k) for k in raw)
            except (ValueError, KeyError, TypeError) as exc:
                self._skip(obj, exc)
                continue
            jwks[ns] = {"keys": [k.public_jwk() for k in keys[ns] if not k.symmetric]}
        return keys, jwks

    def _parsed(
        self, obj: Manifest, key: str, model: type[SpecModel]
    ) -> tuple[dict[str, Any], SpecModel]:
        text = (obj.get("data") or {})[key]
        if not isinstance(text, str):
            raise TypeError(f"{key} is not text")
        return self.cache.parse(key, text, model)

    def _skip(self, obj: Manifest, exc: Exception) -> None:
        meta = obj.get("metadata") or {}
        reason = type(exc).__name__ if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        self.errors.append(
            f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}: skipped ({reason})"
        )


def _response_name_clash(
    view: CredentialView,
    acl_policies: Mapping[tuple[Target, str], PolicyView],
    defaults: TokenManagement,
) -> str | None:
    """A metadata key equal to a response field name that applies to this Credential
    (issuer-wide, or renamed by a policy its ACL reaches): docs/contract.md rejects it."""
    settings = [defaults.response] + [
        policy.settings.response
        for entry in view.spec.acl
        for type_ in ("JWT", "OAuth2")
        if (policy := acl_policies.get((Target(view.namespace, entry.kind, entry.name), type_)))
    ]
    names = {s.name(field) for s in settings for field in RESPONSE_FIELD_NAMES}
    return next((c.key for c in view.claims if c.key in names), None)


def _claim_value(
    claim: Claim, namespace: str, secrets: Mapping[tuple[str, str], Mapping[str, str]]
) -> str:
    """An inline value, or the one its ``valueFrom.secretKeyRef`` names (KeyError if absent)."""
    if claim.value_from is None:
        if claim.value is None:
            raise KeyError(claim.key)
        return claim.value
    ref = claim.value_from.secret_key_ref
    return secrets[(namespace, ref.name)][ref.key]


def parse_htpasswd(text: str) -> dict[str, str]:
    """``user:hash`` lines (blank lines and ``#`` comments ignored) -> user -> hash."""
    users: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            user, _, hashed = line.partition(":")
            users[user] = hashed
    return users
