"""Roles: one ConfigMap each, with the scope they grant and who holds it (pure)."""

from gatekey.operator import contract
from gatekey.operator.model import Role
from gatekey.operator.model.status import READY
from gatekey.operator.render.objects import Output, payload_meta


def render_roles(roles: list[Role], out: Output) -> None:
    for role in roles:
        payload = {
            "metadata": payload_meta(role),
            "spec": role.spec.model_dump(by_alias=True, mode="json"),
            "scope": role.scope,
        }
        out.configmap(
            contract.role_configmap(role.metadata.name),
            "role",
            {contract.ROLE_KEY: contract.dump_json(payload)},
            role,
        )
        out.status(
            role,
            True,
            READY,
            f"scope {role.scope}",
            {"scope": role.scope, "subjects": len(role.spec.subjects)},
        )


def holds(role: Role, kind: str, name: str) -> bool:
    """Whether ``role`` names ``kind``/``name`` among its subjects."""
    return any(s.kind == kind and s.name == name for s in role.spec.subjects)
