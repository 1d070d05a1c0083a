"""Render: CRs + the Secrets that exist -> the Secrets and ConfigMaps the issuer reads (pure).

One function serves both the operator (which applies the result to the API
server) and the embedded mode (which keeps it in memory). The clock and the
randomness are inputs, so the same inputs give the same objects (docs/contract.md).

Secrets the user made (a proxy key, a Credential's secret) are adopted: copied
with their values untouched, labelled, and given no ownerReference, so that
deleting the CR never deletes data the user wrote. Generated Secrets and
ConfigMaps are owned by their CR.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from gatekey.operator import contract
from gatekey.operator.client_ids import Holders, refusal
from gatekey.operator.contract import ConfigKind, Manifest
from gatekey.operator.entropy import Entropy
from gatekey.operator.model import AuthPolicy, Credential, Role, Target
from gatekey.operator.model.authpolicy import audience_target
from gatekey.operator.model.client_keys import Jwks, JwksSecretRef
from gatekey.operator.model.credential import Claim, SecretKeyRef, ValueFrom
from gatekey.operator.model.durations import duration_seconds
from gatekey.operator.model.status import (
    AUDIENCE_NOT_OWNED,
    CLIENT_ID_CONFLICT,
    CONFLICT,
    JWKS_INVALID,
    JWKS_SECRET_MISSING,
    METADATA_SECRET_MISSING,
    READY,
    REJECTED,
    RESPONSE_FIELD_CLASH,
    ROTATION_REFUSED,
    SECRET_INVALID,
    SECRET_MISSING,
    UNKNOWN_SCOPE,
    USER_POOL_MISSING,
)
from gatekey.operator.model.token_management import TokenManagement, clashing_key
from gatekey.operator.model.token_settings import TokenSettings
from gatekey.operator.rotation import (
    generations,
    handled_requests,
    pruned,
    rotated,
    without_previous,
)
from gatekey.operator.signing_keys import SigningKey, plan_keys, public_jwks
from gatekey.operator.timestamps import rfc3339

__all__ = ["REJECTED", "RenderInput", "RenderSettings", "Rendered", "Status", "render"]

SecretValues = Mapping[str, str]
CR = AuthPolicy | Credential | Role
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CLIENT_ID_BYTES = 12
CLIENT_SECRET_BYTES = 32


@dataclass(frozen=True)
class RenderSettings:
    """Operator-wide settings that shape rendered objects."""

    key_rotation: timedelta = timedelta(days=90)
    """How long a signing key signs before its successor takes over."""
    key_prepublish: timedelta = timedelta(hours=1)
    """How long a new key is in the JWKS before it signs, so that caches learn it first."""
    token_management: TokenManagement = field(default_factory=TokenManagement)
    """The issuer-wide Token Management Settings of the issuers serving these objects: a
    Credential Metadata key equal to a response field name they rename to is refused."""


@dataclass(frozen=True)
class RenderInput:
    """Everything ``render`` reads for one namespace."""

    namespace: str
    policies: Sequence[AuthPolicy]
    credentials: Sequence[Credential]
    roles: Sequence[Role]
    secrets: Mapping[str, SecretValues]
    """The Secrets that exist in the namespace, by name (decoded values)."""
    now: datetime
    entropy: Entropy
    generated: frozenset[str] = frozenset()
    """Which of ``secrets`` Gatekey generated earlier (owned, not adopted)."""
    settings: RenderSettings = RenderSettings()
    client_id_holders: Holders | None = None
    """Who holds each client id across every namespace the operator reconciles; a CR
    whose id another holds is refused. None: no check (the embedded mode, where the
    issuer's snapshot decides between namespaces)."""


@dataclass(frozen=True)
class Status:
    """What ``render`` found about one CR: the Ready condition and the status fields."""

    ready: bool
    reason: str
    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""
    """The manifest field at fault, for a reason in :data:`REJECTED`."""


@dataclass(frozen=True)
class Rendered:
    """The objects to write and the status of every CR, keyed by ``(kind, name)``."""

    objects: tuple[Manifest, ...]
    statuses: Mapping[tuple[str, str], Status]
    rotations: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """CRs whose client secret this render rotated (or whose previous secret it dropped
    on request), with what happened in words: the operator posts them as Events."""

    def by_name(self, kind: str, name: str) -> Manifest | None:
        """The object of ``kind`` (Secret, ConfigMap) named ``name``, if rendered."""
        return next(
            (o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name), None
        )


def render(inputs: RenderInput) -> Rendered:
    """The Secrets and ConfigMaps for one namespace, and the status of each CR."""
    return _Renderer(inputs).run()


class _Renderer:
    def __init__(self, inputs: RenderInput) -> None:
        self.inputs = inputs
        self.ns = inputs.namespace
        self.objects: dict[tuple[str, str], Manifest] = {}
        self.statuses: dict[tuple[str, str], Status] = {}
        self.rotations: dict[tuple[str, str], str] = {}
        self.refused_rotation: set[str] = set()
        """Adopted client Secrets whose CRs ask for a rotation."""

    def run(self) -> Rendered:
        policies = self._policies()
        acl_policies: dict[tuple[str, str], list[AuthPolicy]] = {}
        for p in policies:
            if p.spec.management == "ACL":
                acl_policies.setdefault((p.target.kind, p.target.name), []).append(p)
        self._roles()
        for credential in self.inputs.credentials:
            self._credential(credential, acl_policies)
        self._signing_keys(policies)
        objects = tuple(self.objects[k] for k in sorted(self.objects))
        return Rendered(
            objects=objects, statuses=dict(self.statuses), rotations=dict(self.rotations)
        )

    # AuthPolicy ---------------------------------------------------------------

    def _policies(self) -> list[AuthPolicy]:
        """Render each policy; of two on the same type, mode and target the older wins."""
        winners: dict[tuple[str, str, Target], AuthPolicy] = {}
        key_owner: dict[str, Target] = {}
        owned = _owned_audiences(self.inputs.policies)
        for policy in sorted(self.inputs.policies, key=_age):
            policy_mode = policy.spec.management == "Policy"
            if policy_mode and self._client_id_taken(policy):
                continue
            foreign = _foreign_audience(policy, self.ns, owned)
            if foreign:
                self._status(policy, False, AUDIENCE_NOT_OWNED, foreign, path="spec.token.audience")
                self._keep_proxy_key(policy, key_owner)
                continue
            unknown = self._unknown_scopes(policy)
            if unknown:
                message = "routes name scopes no Role of this namespace defines: " + ", ".join(
                    sorted(unknown)
                )
                self._status(policy, False, UNKNOWN_SCOPE, message, path="spec.routes")
                self._keep_proxy_key(policy, key_owner)
                continue
            slot = (policy.spec.type, policy.spec.management, policy.target)
            if slot in winners:
                self._status(
                    policy,
                    False,
                    CONFLICT,
                    f"AuthPolicy {winners[slot].metadata.name} "
                    f"already holds {policy.spec.type}/{policy.spec.management} on "
                    f"{policy.target.audience}",
                )
                continue
            if policy_mode:
                holder = key_owner.setdefault(policy.proxy_key_secret_name, policy.target)
                if holder != policy.target:
                    self._status(
                        policy,
                        False,
                        CONFLICT,
                        f"Secret {policy.proxy_key_secret_name} "
                        f"is the proxy key of {holder.audience}",
                    )
                    continue
            winners[slot] = policy
            self._policy(policy)
        return list(winners.values())

    def _keep_proxy_key(self, policy: AuthPolicy, key_owner: Mapping[str, Target]) -> None:
        """A refused policy's existing proxy key stays as it is (not served without the
        policy's ConfigMap): fixing a typo must not change the key its proxies hold."""
        name = policy.proxy_key_secret_name
        if (
            policy.spec.management == "Policy"
            and name in self.inputs.secrets
            and key_owner.get(name, policy.target) == policy.target
        ):
            self._client_secret(name, policy, "proxy-key", client_id=None)

    def _unknown_scopes(self, policy: AuthPolicy) -> frozenset[str]:
        """Scopes the policy's routes require that no Role defines: a typo there would
        otherwise refuse every request at run time (fail closed, but silently)."""
        routes = policy.spec.routes
        if routes is None:
            return frozenset()
        return routes.scopes - {role.scope for role in self.inputs.roles}

    def _policy(self, policy: AuthPolicy) -> None:
        fields: dict[str, Any] = {"endpoints": list(policy.endpoints)}
        client_id: str | None = None
        if policy.spec.management == "Policy":
            name = policy.proxy_key_secret_name
            client = self._client_secret(name, policy, "proxy-key", client_id=None)
            if client is None:
                self._status(
                    policy,
                    False,
                    SECRET_INVALID,
                    f"Secret {name} has no client_id or client_secret",
                )
                return
            client_id = client
            fields |= {
                "clientId": client_id,
                "proxyKeySecretName": name,
                "secretGenerations": self._generations(name),
            }
        pool_copy = None
        ready, reason, message = True, READY, "serving " + ", ".join(policy.endpoints)
        path = ""
        if policy.spec.user_pool is not None:
            pool = policy.spec.user_pool.secret_name
            pool_copy = contract.user_pool_secret(pool)
            htpasswd = self.inputs.secrets.get(pool, {}).get(contract.HTPASSWD_KEY)
            if htpasswd is None:
                ready, reason = False, USER_POOL_MISSING
                message = f"user pool Secret {pool} with key {contract.HTPASSWD_KEY} not found"
            else:
                self._secret(pool_copy, "user-pool", {contract.HTPASSWD_KEY: htpasswd}, policy)
        spec = policy.spec
        if client_id is not None:
            ref = spec.proxy_key_jwks_secret_ref
            jwks, problem = self._jwks(ref, "spec.proxyKeyJwksSecretRef")
            if ref is not None:
                spec = spec.model_copy(
                    update={"proxy_key_jwks": jwks, "proxy_key_jwks_secret_ref": None}
                )
            if problem is not None and ready:
                (reason, message, path), ready = problem, False
        payload = {
            "metadata": _meta(policy),
            "spec": spec.model_dump(by_alias=True, mode="json"),
            "clientId": client_id,
            "proxyKeySecretName": fields.get("proxyKeySecretName"),
            "userPoolSecretName": pool_copy,
            "audience": _audience(policy),
        }
        self._configmap(
            contract.authpolicy_configmap(policy.metadata.name),
            "authpolicy",
            {contract.AUTHPOLICY_KEY: contract.dump_json(payload)},
            policy,
        )
        if ready and client_id and policy.proxy_key_secret_name in self.refused_rotation:
            ready, reason = False, ROTATION_REFUSED
            message = _refusal_message(policy.proxy_key_secret_name)
        self._status(policy, ready, reason, message, fields, path)

    # Credential ---------------------------------------------------------------

    def _credential(
        self, cred: Credential, acl_policies: Mapping[tuple[str, str], list[AuthPolicy]]
    ) -> None:
        name = cred.secret_name
        if name not in self.inputs.secrets and cred.secret_named_explicitly:
            self._status(cred, False, SECRET_MISSING, f"Secret {name} does not exist")
            return
        if self._client_id_taken(cred):
            return
        client_id = self._client_secret(name, cred, "credential-secret", cred.spec.client_id)
        if client_id is None:
            self._status(
                cred, False, SECRET_INVALID, f"Secret {name} has no client_id or client_secret"
            )
            return
        clash = self._response_field_clash(cred, acl_policies)
        if clash:
            return
        claims, hidden, missing = self._claims(cred)
        if missing:
            self._status(
                cred, False, METADATA_SECRET_MISSING, f"metadata value {missing} not found"
            )
            return
        if hidden:
            self._secret(
                contract.credential_metadata_secret(cred.metadata.name),
                "credential-metadata",
                hidden,
                cred,
            )
        ref = cred.spec.jwks_secret_ref
        jwks, jwks_problem = self._jwks(ref, "spec.jwksSecretRef")
        update: dict[str, Any] = {"claims": claims}
        if ref is not None:  # the issuer reads the keys, never the Secret
            update |= {"jwks": jwks, "jwks_secret_ref": None}
        spec = cred.spec.model_copy(update=update)
        payload = {
            "metadata": _meta(cred),
            "spec": spec.model_dump(by_alias=True, mode="json"),
            "clientId": client_id,
            "secretName": name,
        }
        self._configmap(
            contract.credential_configmap(cred.metadata.name),
            "credential",
            {contract.CREDENTIAL_KEY: contract.dump_json(payload)},
            cred,
        )
        now = self.inputs.now
        acl = [
            f"{e.kind}/{e.name}"
            for e in cred.spec.acl
            if (e.kind, e.name) in acl_policies and (e.expires_at is None or e.expires_at > now)
        ]
        roles = sorted(
            {r.scope for r in self.inputs.roles if _holds(r, "Credential", cred.metadata.name)}
        )
        fields = {
            "clientId": client_id,
            "secretName": name,
            "roles": roles,
            "acl": acl,
            "secretGenerations": self._generations(name),
        }
        message = (
            f"{len(acl)} ACL target(s) served" if acl else "no ACL target has an ACL-mode policy"
        )
        if jwks_problem is not None:
            # Served without the keys: its secret still authenticates, private_key_jwt not.
            reason, why, path = jwks_problem
            self._status(cred, False, reason, why, fields, path)
            return
        if name in self.refused_rotation:
            self._status(cred, False, ROTATION_REFUSED, _refusal_message(name), fields)
            return
        self._status(cred, True, READY, message, fields)

    def _response_field_clash(
        self, cred: Credential, acl_policies: Mapping[tuple[str, str], list[AuthPolicy]]
    ) -> bool:
        """Refuse ``cred`` when a metadata key equals a response field name that applies to
        it (issuer-wide, or renamed by an ACL-mode policy its ACL names): the entry would
        replace that field in the token response. Its client Secret stays as it is."""
        defaults = self.inputs.settings.token_management
        responses = [defaults.response] + [
            defaults.overridden(policy.spec.token_management).response
            for entry in cred.spec.acl
            for policy in acl_policies.get((entry.kind, entry.name), ())
        ]
        keys = [claim.key for claim in cred.spec.claims]
        index = clashing_key(keys, responses)
        if index is None:
            return False
        self._status(
            cred,
            False,
            RESPONSE_FIELD_CLASH,
            f"claims key {keys[index]!r} is a token response field name (as renamed by the "
            "issuer-wide settings or a policy this Credential's ACL names): it would replace "
            "that field in the response; rename the key",
            path=f"spec.claims[{index}].key",
        )
        return True

    def _claims(self, cred: Credential) -> tuple[tuple[Claim, ...], dict[str, str], str]:
        """Claims with Secret values resolved: secret ones move to the metadata Secret."""
        claims: list[Claim] = []
        hidden: dict[str, str] = {}
        for claim in cred.spec.claims:
            value = claim.value
            if claim.value_from is not None:
                ref = claim.value_from.secret_key_ref
                value = self.inputs.secrets.get(ref.name, {}).get(ref.key)
                if value is None:
                    return (), {}, f"{ref.name}/{ref.key}"
            assert value is not None
            if claim.secret or claim.value_from is not None:
                hidden[claim.key] = value
                ref = SecretKeyRef(
                    name=contract.credential_metadata_secret(cred.metadata.name), key=claim.key
                )
                claims.append(
                    claim.model_copy(
                        update={"value": None, "value_from": ValueFrom(secret_key_ref=ref)}
                    )
                )
            else:
                claims.append(claim)
        return tuple(claims), hidden, ""

    def _jwks(
        self, ref: JwksSecretRef | None, path: str
    ) -> tuple[Jwks | None, tuple[str, str, str] | None]:
        """The JWK Set the Secret ``ref`` names holds, or why not: ``(reason, message,
        path)``. Only public keys pass the model, so no private part is ever copied out."""
        if ref is None:
            return None, None
        text = self.inputs.secrets.get(ref.name, {}).get(ref.key)
        if text is None:
            why = f"Secret {ref.name} with key {ref.key} (a JWK Set) not found"
            return None, (JWKS_SECRET_MISSING, why, path)
        try:
            return Jwks.model_validate_json(text), None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            detail = f"{where}: {first['msg']}" if where else first["msg"]
            why = f"Secret {ref.name} key {ref.key} is not a public JWK Set ({detail})"
            return None, (JWKS_INVALID, why, path)

    # Role ---------------------------------------------------------------------

    def _roles(self) -> None:
        for role in self.inputs.roles:
            payload = {
                "metadata": _meta(role),
                "spec": role.spec.model_dump(by_alias=True, mode="json"),
                "scope": role.scope,
            }
            self._configmap(
                contract.role_configmap(role.metadata.name),
                "role",
                {contract.ROLE_KEY: contract.dump_json(payload)},
                role,
            )
            self._status(
                role,
                True,
                READY,
                f"scope {role.scope}",
                {"scope": role.scope, "subjects": len(role.spec.subjects)},
            )

    # Signing keys -------------------------------------------------------------

    def _signing_keys(self, policies: Sequence[AuthPolicy]) -> None:
        algorithms = {p.spec.token.algorithm for p in policies if p.spec.type == "JWT"}
        existing = self.inputs.secrets.get(contract.SIGNING_KEYS_SECRET, {})
        keys = [
            SigningKey.model_validate(k)
            for k in _json_list(existing.get(contract.SIGNING_KEYS_KEY))
        ]
        if not algorithms and not keys:
            return
        settings = self.inputs.settings
        planned = plan_keys(
            keys,
            algorithms,
            self.inputs.now,
            rotation=settings.key_rotation,
            prepublish=settings.key_prepublish,
            retention=_retention(policies, self.inputs.credentials),
            new_key=self.inputs.entropy.signing_key,
        )
        dumped = [k.model_dump(by_alias=True, mode="json") for k in planned]
        self._secret(
            contract.SIGNING_KEYS_SECRET,
            "signing-keys",
            {contract.SIGNING_KEYS_KEY: contract.dump_json(dumped)},
            None,
        )
        self._configmap(
            contract.JWKS_CONFIGMAP,
            "jwks",
            {contract.JWKS_KEY: contract.dump_json(public_jwks(planned))},
            None,
        )

    def _client_id_taken(self, cr: AuthPolicy | Credential) -> bool:
        """Refuse ``cr`` (nothing of it rendered, its adopted Secret left unlabelled) when
        another CR holds the client id it would use."""
        held = self.inputs.client_id_holders
        why = "" if held is None else refusal(held, cr, self.inputs.secrets)
        if why:
            self._status(cr, False, CLIENT_ID_CONFLICT, why)
        return bool(why)

    # Objects ------------------------------------------------------------------

    def _client_secret(
        self, name: str, owner: CR, kind: ConfigKind, client_id: str | None
    ) -> str | None:
        """Adopt the Secret ``name`` if it exists, else generate it; its client id, or None."""
        rendered = self.objects.get(("Secret", name))
        if rendered is not None:
            _add_owner(rendered, owner)
            return contract.secret_values(rendered)[contract.CLIENT_ID_KEY]
        existing = self.inputs.secrets.get(name)
        if existing is not None:
            found = existing.get(contract.CLIENT_ID_KEY) or client_id
            if not found or not existing.get(contract.CLIENT_SECRET_KEY):
                return None
            values = dict(existing) | {contract.CLIENT_ID_KEY: found}
            if name in self.inputs.generated:
                self._secret(name, kind, self._rotation(name, values, owner), owner)
                return found
            if self._requests(name, owner, contract.ROTATE_SECRET_ANNOTATION):
                self.refused_rotation.add(name)
            obj = self._secret(name, kind, values, None)
            obj["metadata"]["annotations"][contract.ADOPTED_ANNOTATION] = "true"
            _annotate_source(obj, owner)
            return found
        entropy = self.inputs.entropy
        found = client_id or entropy.token(CLIENT_ID_BYTES)
        values = {
            contract.CLIENT_ID_KEY: found,
            contract.CLIENT_SECRET_KEY: entropy.token(CLIENT_SECRET_BYTES),
            contract.CLIENT_SECRET_CREATED_AT_KEY: rfc3339(self.inputs.now),
        }
        requested = self._requests(name, owner, contract.ROTATE_SECRET_ANNOTATION)
        if requested:  # a request made before the Secret existed is already met
            values[contract.ROTATION_HANDLED_KEY] = _marks(requested)
        self._secret(name, kind, values, owner)
        return found

    # Secret rotation ----------------------------------------------------------

    def _requests(self, name: str, owner: CR, annotation: str) -> frozenset[str]:
        """The values of ``annotation`` on every CR whose client Secret is ``name``: two
        Policy-mode AuthPolicies of one target share their proxy key."""
        sharing: list[CR] = [owner]
        if isinstance(owner, AuthPolicy):
            sharing += [
                p
                for p in self.inputs.policies
                if p.spec.management == "Policy" and p.proxy_key_secret_name == name
            ]
        return frozenset(
            v for cr in sharing if (v := cr.metadata.annotations.get(annotation, "").strip())
        )

    def _rotation(self, name: str, values: dict[str, str], owner: CR) -> dict[str, str]:
        """A generated client Secret's values after the rotation requests on its CRs.

        A ``gatekey.io/rotate-secret`` value not handled yet rotates once (the values
        handled are kept in the Secret, so a restarted operator does not rotate again);
        ``gatekey.io/rotation-complete`` equal to a handled value drops the previous
        secret; an expired previous secret is dropped.
        """
        now = self.inputs.now
        out = pruned(values, now)
        handled = handled_requests(values)
        requested = self._requests(name, owner, contract.ROTATE_SECRET_ANNOTATION)
        key = (owner.kind, owner.metadata.name)
        if requested - handled:
            assert isinstance(owner, AuthPolicy | Credential)  # the owners of client Secrets
            keep = timedelta(seconds=duration_seconds(owner.spec.previous_secret_ttl))
            new_secret = self.inputs.entropy.token(CLIENT_SECRET_BYTES)
            out = rotated(out, new_secret, now, keep, requested)
            self.rotations[key] = (
                f"rotated the client secret in Secret {name}; the previous one "
                f"authenticates until {out[contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY]}"
            )
            return out
        complete = self._requests(name, owner, contract.ROTATION_COMPLETE_ANNOTATION)
        if complete & handled and contract.PREVIOUS_CLIENT_SECRET_KEY in out:
            self.rotations[key] = f"rotation complete: dropped the previous secret of {name}"
            out = without_previous(out)
        return out

    def _generations(self, name: str) -> dict[str, Any]:
        """The status view of the rendered client Secret ``name`` (no values)."""
        obj = self.objects.get(("Secret", name))
        return generations(contract.secret_values(obj)) if obj is not None else {}

    def _secret(
        self, name: str, kind: ConfigKind, values: Mapping[str, str], owner: CR | None
    ) -> Manifest:
        obj = self._object("Secret", name, kind, owner)
        obj["type"] = "Opaque"
        obj["data"] = contract.encode_data(values)
        return obj

    def _configmap(
        self, name: str, kind: ConfigKind, data: dict[str, str], owner: CR | None
    ) -> Manifest:
        obj = self._object("ConfigMap", name, kind, owner)
        obj["data"] = data
        return obj

    def _object(self, api_kind: str, name: str, kind: ConfigKind, owner: CR | None) -> Manifest:
        key = (api_kind, name)
        if key in self.objects:
            obj = self.objects[key]
        else:
            obj = {
                "apiVersion": "v1",
                "kind": api_kind,
                "metadata": {
                    "name": name,
                    "namespace": self.ns,
                    "labels": contract.labels(kind),
                    "annotations": {},
                },
            }
            self.objects[key] = obj
        if owner is not None:
            _add_owner(obj, owner)
        return obj

    def _status(
        self,
        cr: CR,
        ready: bool,
        reason: str,
        message: str,
        fields: Mapping[str, Any] | None = None,
        path: str = "",
    ) -> None:
        self.statuses[(cr.kind, cr.metadata.name)] = Status(
            ready, reason, message, fields or {}, path
        )


def _add_owner(obj: Manifest, owner: CR) -> None:
    """Record ``owner`` as a source of ``obj``: an ownerReference (unless adopted) + annotations."""
    _annotate_source(obj, owner)
    if obj["metadata"]["annotations"].get(contract.ADOPTED_ANNOTATION):
        return
    refs = obj["metadata"].setdefault("ownerReferences", [])
    ref = {
        "apiVersion": owner.api_version,
        "kind": owner.kind,
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
    }
    if ref not in refs:
        refs.append(ref)
        refs.sort(key=lambda r: (r["kind"], r["name"]))


def _annotate_source(obj: Manifest, owner: CR) -> None:
    """Provenance annotations; an object with several sources lists them comma-separated."""
    notes = obj["metadata"]["annotations"]
    notes[contract.SOURCE_KIND_ANNOTATION] = _csv_add(
        notes.get(contract.SOURCE_KIND_ANNOTATION), owner.kind
    )
    notes[contract.SOURCE_NAME_ANNOTATION] = _csv_add(
        notes.get(contract.SOURCE_NAME_ANNOTATION), owner.metadata.name
    )


def _marks(values: Iterable[str]) -> str:
    return json.dumps(sorted(values), separators=(",", ":"))


def _refusal_message(secret_name: str) -> str:
    return (
        f"{contract.ROTATE_SECRET_ANNOTATION} is set but Secret {secret_name} is user-owned "
        f"(adopted): Gatekey never writes it. Write the new secret into client_secret and the "
        f"old one into {contract.PREVIOUS_CLIENT_SECRET_KEY} with "
        f"{contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY}, or remove the annotation"
    )


def _csv_add(existing: str | None, value: str) -> str:
    return ",".join(dict.fromkeys([*filter(None, (existing or "").split(",")), value]))


def _meta(cr: CR) -> dict[str, Any]:
    meta = cr.metadata
    created = meta.creation_timestamp.isoformat() if meta.creation_timestamp else None
    return {
        "name": meta.name,
        "namespace": meta.namespace,
        "uid": meta.uid,
        "creationTimestamp": created,
        "generation": meta.generation,
    }


def _age(policy: AuthPolicy) -> tuple[datetime, str]:
    """Older first; objects without a creation time (embedded mode) by name."""
    return policy.metadata.creation_timestamp or EPOCH, policy.metadata.name


def _audience(policy: AuthPolicy) -> list[str]:
    """The target, its member proxies, then the extra values, without repeats."""
    members = [f"ApiProxy/{p}" for p in policy.spec.target_ref.proxies]
    return list(dict.fromkeys([policy.target.audience, *members, *policy.spec.token.audience]))


def _owned_audiences(policies: Iterable[AuthPolicy]) -> set[str]:
    """The ``aud`` values a namespace owns: its policies' targets and their member proxies."""
    owned = set()
    for policy in policies:
        owned.add(policy.target.audience)
        owned |= {f"ApiProxy/{p}" for p in policy.spec.target_ref.proxies}
    return owned


def _foreign_audience(policy: AuthPolicy, namespace: str, owned: set[str]) -> str:
    """Why one of the policy's extra ``aud`` values is not its namespace's to name, or "".

    A token carries its ``aud`` to every proxy that accepts that value: naming another
    namespace's proxy, or a proxy no policy here targets (that another namespace may own),
    would make the token good there.
    """
    for value in policy.spec.token.audience:
        named = audience_target(value)
        if named is None:
            continue  # not a Gatekey target (a URL, an external API): any value is allowed
        target_ns, kind, name = named
        if target_ns is not None and target_ns != namespace:
            return (
                f"token.audience value {value!r} names namespace {target_ns}: "
                f"a policy may only name targets of its own namespace ({namespace})"
            )
        if f"{kind}/{name}" not in owned:
            return (
                f"token.audience value {value!r} is not a target of namespace {namespace}: "
                "no AuthPolicy here targets it or lists it as a member proxy"
            )
    return ""


def _holds(role: Role, kind: str, name: str) -> bool:
    return any(s.kind == kind and s.name == name for s in role.spec.subjects)


def _retention(
    policies: Iterable[AuthPolicy], credentials: Iterable[Credential]
) -> timedelta | None:
    """The longest access-token life a key may have signed for; None if any is immortal."""
    settings: list[TokenSettings] = [p.spec.token for p in policies if p.spec.type == "JWT"]
    settings += [c.spec.token for c in credentials]
    if any(s.immortal for s in settings):
        return None
    return timedelta(seconds=max((s.ttl_seconds for s in settings), default=0))


def _json_list(raw: str | None) -> list[Any]:
    if not raw:
        return []
    loaded = json.loads(raw)
    return loaded if isinstance(loaded, list) else []
