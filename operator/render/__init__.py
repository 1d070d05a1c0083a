"""Render: CRs + the Secrets that exist -> the Secrets and ConfigMaps the issuer reads (pure).

One function serves both the operator (which applies the result to the API
server) and the embedded mode (which keeps it in memory). The clock and the
randomness are inputs, so the same inputs give the same objects (docs/contract.md).

The parts, one job each: :mod:`.policies` (which policy serves what),
:mod:`.credentials` with :mod:`.metadata` and :mod:`.jwks`, :mod:`.roles`,
:mod:`.signing`, :mod:`.client_secrets` (adopt, generate, rotate; client-id refusals),
:mod:`.audience` (tenancy of ``aud`` values), :mod:`.objects` (labels, owners,
provenance, statuses) and :mod:`.types` (inputs and results).
"""

from gatekey.operator.model import AuthPolicy
from gatekey.operator.model.status import REJECTED
from gatekey.operator.render.client_secrets import CLIENT_SECRET_BYTES, ClientSecrets
from gatekey.operator.render.credentials import AclPolicies, ResponseNames, render_credential
from gatekey.operator.render.objects import Output
from gatekey.operator.render.policies import render_policies
from gatekey.operator.render.roles import render_roles
from gatekey.operator.render.signing import render_signing_keys
from gatekey.operator.render.types import Rendered, RenderInput, RenderSettings, Status

__all__ = [
    "CLIENT_SECRET_BYTES",
    "REJECTED",
    "RenderInput",
    "RenderSettings",
    "Rendered",
    "Status",
    "render",
]


def render(inputs: RenderInput) -> Rendered:
    """The Secrets and ConfigMaps for one namespace, and the status of each CR."""
    out = Output(inputs.namespace)
    secrets = ClientSecrets(inputs, out)
    policies = render_policies(inputs, out, secrets)
    acl_policies: dict[tuple[str, str], list[AuthPolicy]] = {}
    for policy in policies:
        if policy.spec.management == "ACL":
            acl_policies.setdefault((policy.target.kind, policy.target.name), []).append(policy)
    render_roles(list(inputs.roles), out)
    served: AclPolicies = acl_policies
    names = ResponseNames(inputs.settings.token_management)
    for credential in inputs.credentials:
        render_credential(inputs, out, secrets, credential, served, names)
    render_signing_keys(inputs, out, policies)
    return out.rendered()
