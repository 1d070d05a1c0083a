"""Rendered objects -> a :class:`~gatekey.issuer.views.Snapshot` (pure).

Reads only the Secrets and ConfigMaps of the operator -> issuer contract
(``gatekey.operator.contract``). A malformed object is skipped and reported in
``Snapshot.errors``; it never poisons the rest. Who holds a contested client id is
decided by the rule shared with the operator (:mod:`gatekey.operator.client_ids`).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from gatekey.issuer.client_secret import ClientSecret
from gatekey.issuer.htpasswd import parse_htpasswd
from gatekey.issuer.parse_cache import ParseCache, SpecModel
from gatekey.issuer.routes import compile_routes
from gatekey.issuer.views import (
    CredentialView,
    NamespacedKey,
    PolicyView,
    ProxyKeyClient,
    ResolvedClaim,
    Snapshot,
    UserPool,
    UserRole,
)
from gatekey.operator import contract
from gatekey.operator.client_ids import ClientIdClaim, award
from gatekey.operator.contract import Manifest
from gatekey.operator.model import Target, TokenManagement
from gatekey.operator.model.authpolicy import AuthPolicySpec
from gatekey.operator.model.credential import Claim, CredentialSpec
from gatekey.operator.model.role import RoleSpec
from gatekey.operator.model.token_management import clashing_key, response_names
from gatekey.operator.rotation import previous_expiry
from gatekey.operator.signing_keys import SigningKey
from gatekey.operator.timestamps import parse_instant


class Indexer:
    """One build: objects in, Snapshot out, errors collected on the way."""

    def __init__(self, defaults: TokenManagement, cache: ParseCache) -> None:
        self.defaults = defaults
        self.cache = cache
        self.errors: list[str] = []
        self.response_names = response_names([defaults.response])

    def build(self, objects: Iterable[Manifest]) -> Snapshot:
        by_kind: dict[str, list[Manifest]] = defaultdict(list)
        secrets: dict[tuple[str, str], dict[str, str]] = {}
        created: dict[tuple[str, str], datetime | None] = {}
        for obj in objects:
            kind = contract.config_kind(obj)
            if kind is None:
                continue
            if obj.get("kind") == "Secret":
                meta = obj["metadata"]
                try:
                    secrets[(meta["namespace"], meta["name"])] = contract.secret_values(obj)
                    created[(meta["namespace"], meta["name"])] = _created(meta)
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
            # render checked the policies' renames; only the issuer knows its own settings.
            clash = clashing_key([c.key for c in view.claims], self.response_names)
            if clash is not None:
                name = view.claims[clash].key
                self._skip(obj, ValueError(f"claim key {name!r} is a configured response field"))
                continue
            stamp = created.get((view.namespace, view.secret_name))
            identity = ("Credential", view.namespace, view.name)
            claims.append(ClientIdClaim(view.client_id, identity, stamp, view))
        held, refused = award(claims, self.cache.holders)
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


def _created(meta: Mapping[str, Any]) -> datetime | None:
    """The API server's ``creationTimestamp``; None if absent or unreadable (such a claim
    then holds a contested client id only as the incumbent)."""
    try:
        return parse_instant(str(meta["creationTimestamp"]))
    except (KeyError, ValueError):
        return None
