"""The grants, one module each (RFC 6749 §4.3, §4.4, §6, and regeneration), and their registry.

Each module declares ``RULES``, a :class:`~gatekey.issuer.grants.rules.GrantRules`: its
name, where the seed's ``-`` secret is accepted, what its client must be allowed, what
the audit line records, whether its failures count toward the throttle, and its
``decide``. A decision uses only what :class:`~gatekey.issuer.domain.GrantContext`
injects, so each grant is testable as a function. What the issuer advertises
(``grant_types_supported``, the OpenAPI enum) and the metric labels are derived here.
"""

from gatekey.issuer.grants import client_credentials, password, refresh_token, regenerate
from gatekey.issuer.grants.rules import Decide, GrantRules

__all__ = [
    "ALL_GRANTS",
    "GRANTS",
    "GRANT_TYPES_SUPPORTED",
    "METRIC_LABELS",
    "Decide",
    "GrantRules",
    "rules_of",
]

ALL_GRANTS: dict[str, GrantRules] = {
    rules.name: rules
    for rules in (client_credentials.RULES, password.RULES, refresh_token.RULES, regenerate.RULES)
}
"""Every grant the issuer serves, by name."""

GRANTS: dict[str, GrantRules] = {n: r for n, r in ALL_GRANTS.items() if r.at_token_endpoint}
"""The token endpoints' grants by ``grant_type``; any other value is ``unsupported_grant_type``."""

GRANT_TYPES_SUPPORTED: tuple[str, ...] = tuple(GRANTS)
"""RFC 8414 ``grant_types_supported``, and the OpenAPI enum of ``grant_type``."""

METRIC_LABELS: frozenset[str] = frozenset(ALL_GRANTS)
"""The ``grant`` label values; a client's unknown ``grant_type`` is counted as ``other``."""


def rules_of(name: str | None) -> GrantRules | None:
    """The rules of the grant named ``name``, if it is one."""
    return None if name is None else ALL_GRANTS.get(name)
