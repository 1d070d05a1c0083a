"""A policy's token audience, and which values its namespace may name (pure, tenancy)."""

from collections.abc import Iterable

from gatekey.operator.model import AuthPolicy
from gatekey.operator.model.authpolicy import audience_target


def audience(policy: AuthPolicy) -> list[str]:
    """The target, its member proxies, then the extra values, without repeats."""
    members = [f"ApiProxy/{p}" for p in policy.spec.target_ref.proxies]
    return list(dict.fromkeys([policy.target.audience, *members, *policy.spec.token.audience]))


def owned_audiences(policies: Iterable[AuthPolicy]) -> set[str]:
    """The ``aud`` values a namespace owns: its policies' targets and their member proxies."""
    owned = set()
    for policy in policies:
        owned.add(policy.target.audience)
        owned |= {f"ApiProxy/{p}" for p in policy.spec.target_ref.proxies}
    return owned


def foreign_audience(policy: AuthPolicy, namespace: str, owned: set[str]) -> str:
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
