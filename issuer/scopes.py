"""Scope resolution from Roles under the Token Management Settings (pure).

RFC 6749 §3.3: ``scope`` is a space-delimited list of scope tokens. What is
granted depends on what the principal holds and on ``scope.onMismatch``,
``scope.whenNotRequested`` and ``scope.rejectWhenNoRoles`` (docs/contract.md).
"""

import re

from gatekey.issuer.errors import InvalidScope
from gatekey.operator.model import ScopeSettings

_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def parse_scope(raw: str | None) -> frozenset[str] | None:
    """The requested scope tokens; None when the request names no scope (absent or empty)."""
    if raw is None or not raw.strip(" "):
        return None
    tokens = [t for t in raw.split(" ") if t]
    if not all(_SCOPE_TOKEN.match(t) for t in tokens):
        raise InvalidScope("scope holds characters RFC 6749 §3.3 does not allow")
    return frozenset(tokens)


def resolve_scope(
    requested: frozenset[str] | None, held: frozenset[str], rules: ScopeSettings
) -> tuple[str, ...]:
    """The scope to grant, sorted; raises :class:`InvalidScope` where the rules refuse."""
    if rules.on_mismatch == "Ignore":
        return tuple(sorted(held))
    if rules.reject_when_no_roles and not held:
        raise InvalidScope("no role is granted to this principal")
    if requested is None:
        return tuple(sorted(held)) if rules.when_not_requested == "All" else ()
    missing = requested - held
    if missing and rules.on_mismatch == "Strict":
        raise InvalidScope(f"scope not held: {' '.join(sorted(missing))}")
    return tuple(sorted(requested & held))


def narrow_scope(
    requested: frozenset[str] | None, original: tuple[str, ...], held: frozenset[str]
) -> tuple[str, ...]:
    """The scope of a refreshed token (RFC 6749 §6): at most the original, never wider.

    Without ``scope`` the original is kept; roles taken away since are dropped.
    """
    if requested is not None and not requested <= set(original):
        raise InvalidScope("a refresh may narrow the scope, never widen it")
    kept = original if requested is None else tuple(sorted(requested))
    return tuple(s for s in kept if s in held)
