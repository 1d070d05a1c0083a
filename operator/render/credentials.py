"""Credentials: their client Secret, metadata, public keys and ConfigMap (pure)."""

from collections.abc import Mapping
from typing import Any

from gatekey.operator import contract
from gatekey.operator.model import AuthPolicy, Credential
from gatekey.operator.model.status import (
    METADATA_SECRET_MISSING,
    READY,
    RESPONSE_FIELD_CLASH,
    ROTATION_REFUSED,
    SECRET_INVALID,
    SECRET_MISSING,
)
from gatekey.operator.model.token_management import TokenManagement, response_names
from gatekey.operator.render.client_secrets import ClientSecrets, refusal_message
from gatekey.operator.render.jwks import jwks_from_secret
from gatekey.operator.render.metadata import resolve_claims, response_field_clash
from gatekey.operator.render.objects import Output, payload_meta
from gatekey.operator.render.roles import holds
from gatekey.operator.render.types import RenderInput

AclPolicies = Mapping[tuple[str, str], list[AuthPolicy]]
"""The served ACL-mode policies by target ``(kind, name)``."""


class ResponseNames:
    """The response field names in force, per ACL-mode policy, computed once per render."""

    def __init__(self, defaults: TokenManagement) -> None:
        self._defaults = defaults
        self.defaults = response_names([defaults.response])
        self._by_policy: dict[str, frozenset[str]] = {}

    def of(self, policy: AuthPolicy) -> frozenset[str]:
        name = policy.metadata.name
        if name not in self._by_policy:
            settings = self._defaults.overridden(policy.spec.token_management)
            self._by_policy[name] = response_names([settings.response])
        return self._by_policy[name]


def render_credential(
    inputs: RenderInput,
    out: Output,
    secrets: ClientSecrets,
    cred: Credential,
    acl_policies: AclPolicies,
    response_names: ResponseNames,
) -> None:
    name = cred.secret_name
    if name not in inputs.secrets and cred.secret_named_explicitly:
        out.status(cred, False, SECRET_MISSING, f"Secret {name} does not exist")
        return
    if secrets.client_id_taken(cred):
        return
    client_id = secrets.render(name, cred, "credential-secret", cred.spec.client_id)
    if client_id is None:
        why = f"Secret {name} has no client_id or client_secret"
        out.status(cred, False, SECRET_INVALID, why)
        return
    names = response_names.defaults.union(
        *(
            response_names.of(policy)
            for e in cred.spec.acl
            for policy in acl_policies.get((e.kind, e.name), ())
        )
    )
    clash, path = response_field_clash(cred, names)
    if clash:  # not served; its client Secret stays as it is for the fix
        out.status(cred, False, RESPONSE_FIELD_CLASH, clash, path=path)
        return
    claims, hidden, missing = resolve_claims(cred, inputs.secrets)
    if missing:
        out.status(cred, False, METADATA_SECRET_MISSING, f"metadata value {missing} not found")
        return
    if hidden:
        metadata_secret = contract.credential_metadata_secret(cred.metadata.name)
        out.secret(metadata_secret, "credential-metadata", hidden, cred)
    update: dict[str, Any] = {"claims": claims}
    problem = None
    ref = cred.spec.jwks_secret_ref
    if ref is not None:  # the issuer reads the keys, never the Secret
        jwks, problem = jwks_from_secret(inputs.secrets, ref, "spec.jwksSecretRef")
        update |= {"jwks": jwks, "jwks_secret_ref": None}
    spec = cred.spec.model_copy(update=update)
    payload = {
        "metadata": payload_meta(cred),
        "spec": spec.model_dump(by_alias=True, mode="json"),
        "clientId": client_id,
        "secretName": name,
    }
    out.configmap(
        contract.credential_configmap(cred.metadata.name),
        "credential",
        {contract.CREDENTIAL_KEY: contract.dump_json(payload)},
        cred,
    )
    now = inputs.now
    acl = [
        f"{e.kind}/{e.name}"
        for e in cred.spec.acl
        if (e.kind, e.name) in acl_policies and (e.expires_at is None or e.expires_at > now)
    ]
    roles = sorted({r.scope for r in inputs.roles if holds(r, "Credential", cred.metadata.name)})
    fields = {
        "clientId": client_id,
        "secretName": name,
        "roles": roles,
        "acl": acl,
        "secretGenerations": secrets.generations(name),
    }
    if problem is not None:
        # Served without the keys: its secret still authenticates, private_key_jwt not.
        reason, why, path = problem
        out.status(cred, False, reason, why, fields, path)
    elif name in secrets.refused_rotation:
        out.status(cred, False, ROTATION_REFUSED, refusal_message(name), fields)
    else:
        served = (
            f"{len(acl)} ACL target(s) served" if acl else "no ACL target has an ACL-mode policy"
        )
        out.status(cred, True, READY, served, fields)
