"""AuthPolicies: which one serves each type, mode and target, and what it writes (pure).

Of two policies on the same type, mode and target the older wins (``Conflict`` for the
other). A policy is refused, with the field at fault, when its audience names what its
namespace does not own or its routes name a scope no Role defines; its existing proxy
key stays as it is meanwhile.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gatekey.operator import contract
from gatekey.operator.model import AuthPolicy, Role, Target
from gatekey.operator.model.status import (
    AUDIENCE_NOT_OWNED,
    CONFLICT,
    READY,
    ROTATION_REFUSED,
    SECRET_INVALID,
    UNKNOWN_SCOPE,
    USER_POOL_MISSING,
)
from gatekey.operator.render.audience import audience, foreign_audience, owned_audiences
from gatekey.operator.render.client_secrets import ClientSecrets, refusal_message
from gatekey.operator.render.jwks import jwks_from_secret
from gatekey.operator.render.objects import Output, payload_meta
from gatekey.operator.render.types import RenderInput

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def render_policies(inputs: RenderInput, out: Output, secrets: ClientSecrets) -> list[AuthPolicy]:
    """Render each policy; the policies served (one per type, mode and target)."""
    winners: dict[tuple[str, str, Target], AuthPolicy] = {}
    key_owner: dict[str, Target] = {}
    owned = owned_audiences(inputs.policies)
    for policy in sorted(inputs.policies, key=_age):
        policy_mode = policy.spec.management == "Policy"
        if policy_mode and secrets.client_id_taken(policy):
            continue
        foreign = foreign_audience(policy, inputs.namespace, owned)
        if foreign:
            out.status(policy, False, AUDIENCE_NOT_OWNED, foreign, path="spec.token.audience")
            _keep_proxy_key(inputs, secrets, policy, key_owner)
            continue
        unknown = _unknown_scopes(policy, inputs.roles)
        if unknown:
            message = "routes name scopes no Role of this namespace defines: " + ", ".join(
                sorted(unknown)
            )
            out.status(policy, False, UNKNOWN_SCOPE, message, path="spec.routes")
            _keep_proxy_key(inputs, secrets, policy, key_owner)
            continue
        slot = (policy.spec.type, policy.spec.management, policy.target)
        if slot in winners:
            out.status(
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
                out.status(
                    policy,
                    False,
                    CONFLICT,
                    f"Secret {policy.proxy_key_secret_name} is the proxy key of {holder.audience}",
                )
                continue
        winners[slot] = policy
        _render_policy(inputs, out, secrets, policy)
    return list(winners.values())


def _render_policy(
    inputs: RenderInput, out: Output, secrets: ClientSecrets, policy: AuthPolicy
) -> None:
    fields: dict[str, Any] = {"endpoints": list(policy.endpoints)}
    client_id: str | None = None
    if policy.spec.management == "Policy":
        name = policy.proxy_key_secret_name
        client_id = secrets.render(name, policy, "proxy-key", client_id=None)
        if client_id is None:
            why = f"Secret {name} has no client_id or client_secret"
            out.status(policy, False, SECRET_INVALID, why)
            return
        fields |= {
            "clientId": client_id,
            "proxyKeySecretName": name,
            "secretGenerations": secrets.generations(name),
        }
    pool_copy = None
    ready, reason, message = True, READY, "serving " + ", ".join(policy.endpoints)
    path = ""
    if policy.spec.user_pool is not None:
        pool = policy.spec.user_pool.secret_name
        pool_copy = contract.user_pool_secret(pool)
        htpasswd = inputs.secrets.get(pool, {}).get(contract.HTPASSWD_KEY)
        if htpasswd is None:
            ready, reason = False, USER_POOL_MISSING
            message = f"user pool Secret {pool} with key {contract.HTPASSWD_KEY} not found"
        else:
            out.secret(pool_copy, "user-pool", {contract.HTPASSWD_KEY: htpasswd}, policy)
    spec = policy.spec
    ref = spec.proxy_key_jwks_secret_ref
    if client_id is not None and ref is not None:
        jwks, problem = jwks_from_secret(inputs.secrets, ref, "spec.proxyKeyJwksSecretRef")
        # The issuer reads the keys, never the Secret.
        spec = spec.model_copy(update={"proxy_key_jwks": jwks, "proxy_key_jwks_secret_ref": None})
        if problem is not None and ready:
            (reason, message, path), ready = problem, False
    payload = {
        "metadata": payload_meta(policy),
        "spec": spec.model_dump(by_alias=True, mode="json"),
        "clientId": client_id,
        "proxyKeySecretName": fields.get("proxyKeySecretName"),
        "userPoolSecretName": pool_copy,
        "audience": audience(policy),
    }
    out.configmap(
        contract.authpolicy_configmap(policy.metadata.name),
        "authpolicy",
        {contract.AUTHPOLICY_KEY: contract.dump_json(payload)},
        policy,
    )
    if ready and client_id and policy.proxy_key_secret_name in secrets.refused_rotation:
        ready, reason = False, ROTATION_REFUSED
        message = refusal_message(policy.proxy_key_secret_name)
    out.status(policy, ready, reason, message, fields, path)


def _keep_proxy_key(
    inputs: RenderInput, secrets: ClientSecrets, policy: AuthPolicy, key_owner: Mapping[str, Target]
) -> None:
    """A refused policy's existing proxy key stays as it is (not served without the
    policy's ConfigMap): fixing a typo must not change the key its proxies hold."""
    name = policy.proxy_key_secret_name
    if (
        policy.spec.management == "Policy"
        and name in inputs.secrets
        and key_owner.get(name, policy.target) == policy.target
    ):
        secrets.render(name, policy, "proxy-key", client_id=None)


def _unknown_scopes(policy: AuthPolicy, roles: Sequence[Role]) -> frozenset[str]:
    """Scopes the policy's routes require that no Role defines: a typo there would
    otherwise refuse every request at run time (fail closed, but silently)."""
    routes = policy.spec.routes
    if routes is None:
        return frozenset()
    return routes.scopes - {role.scope for role in roles}


def _age(policy: AuthPolicy) -> tuple[datetime, str]:
    """Older first; objects without a creation time (embedded mode) by name."""
    return policy.metadata.creation_timestamp or EPOCH, policy.metadata.name
