"""Per-route decisions for ``/authz``: normalise the request path, match the rules (pure).

Rules are compiled once per snapshot (:func:`compile_routes`) into one regular
expression per HTTP method, the rules in order as its alternatives: a request costs
a normalisation and one regex match, whatever the number of rules.

Normalisation is what keeps ``/admin/../admin``, ``//admin``, ``/ADMIN``,
``/%61dmin`` and ``/admin/`` from slipping past a rule for ``/admin``: the query
and fragment are cut, percent-encoding is decoded once, dot segments are removed
(RFC 3986 §5.2.4), empty segments merged, the trailing slash dropped, and the
result lower-cased (patterns are lower-cased too). A path that stays ambiguous
after that (an encoded ``/``, ``\\`` or control character, or a second layer of
percent-encoding that a backend might decode again) has no normal form: it is
refused rather than guessed at.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from gatekey.operator.model.routes import RouteRule, Routes

Action = Literal["Allow", "Deny"]
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_PLAIN = re.compile(r"(?:/[a-z0-9_~!$&'()*+,;=:@-][a-z0-9._~!$&'()*+,;=:@-]*)+")
"""A path already in normal form (no escapes, dot segments, ``//``, trailing ``/``,
upper case): the common case, returned as it is."""
_AMBIGUOUS = re.compile(r"%(2[Ff]|5[Cc]|[01][0-9A-Fa-f]|7[Ff])|%(?![0-9A-Fa-f]{2})")
"""An encoded ``/``, ``\\`` or control character, or a ``%`` that escapes nothing."""


def normalise_path(raw: str) -> str | None:
    """The normal form of a request target's path, or None when it has none."""
    path = raw.split("#", 1)[0].split("?", 1)[0]
    if _PLAIN.fullmatch(path):
        return path
    if not path.startswith("/") or _AMBIGUOUS.search(path):
        return None
    decoded = unquote(path, errors="strict") if "%" in path else path
    if _ESCAPE.search(decoded) or any(c < " " or c in "\\\x7f" for c in decoded):
        return None
    segments: list[str] = []
    for segment in decoded.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return ("/" + "/".join(segments)).lower()


@dataclass(frozen=True, slots=True)
class Decision:
    """What the rules say about one request."""

    allowed: bool
    required: tuple[str, ...] = ()
    """The scopes the matching rule asks for (for ``WWW-Authenticate: ... scope=``)."""


ALLOW = Decision(True)
DENY = Decision(False)


@dataclass(frozen=True, slots=True)
class _Rule:
    action: Action
    all_of: frozenset[str]
    any_of: frozenset[str]
    claims: tuple[tuple[str, str], ...]
    refusal: Decision
    """The decision when the token does not meet the rule, naming the scopes it asks for."""

    def met_by(self, scope: frozenset[str], claims: Callable[[], Mapping[str, str]]) -> bool:
        if not self.all_of <= scope or (self.any_of and self.any_of.isdisjoint(scope)):
            return False
        if not self.claims:
            return True
        held = claims()
        return all(held.get(key) == value for key, value in self.claims)


@dataclass(frozen=True, slots=True)
class CompiledRoutes:
    """A policy's rules, ready to match normalised paths."""

    rules: tuple[_Rule, ...]
    by_method: dict[str, re.Pattern[str]]
    """Per method named by some rule: the paths of the rules that apply to it, in order,
    as alternatives ``(?P<r3>...)``; the first that matches the whole path is the rule."""
    other_methods: re.Pattern[str]
    """The same for any other method (only the rules without ``methods``)."""
    default: Action

    def decide(
        self,
        method: str,
        path: str | None,
        scope: frozenset[str],
        claims: Callable[[], Mapping[str, str]],
    ) -> Decision:
        """The decision for ``method`` on the normalised ``path`` (None: unknown or
        ambiguous, which only a rule-free ``Allow`` default lets through). ``claims``
        gives the client's Credential Metadata, asked for only by a rule that needs it."""
        if path is None:
            return ALLOW if not self.rules and self.default == "Allow" else DENY
        pattern = self.by_method.get(method, self.other_methods)
        # The root is the empty sequence of segments, so that "/**" and prefix "/" cover it.
        found = pattern.fullmatch("" if path == "/" else path)
        if found is None or found.lastgroup is None:
            return ALLOW if self.default == "Allow" else DENY
        rule = self.rules[int(found.lastgroup[1:])]
        if rule.action == "Deny":
            return DENY
        if rule.met_by(scope, claims):
            return ALLOW
        return rule.refusal


NEVER = re.compile(r"(?!)")


def compile_routes(routes: Routes) -> CompiledRoutes:
    """Compile ``routes`` once (per snapshot)."""
    paths = [_path_regex(rule) for rule in routes.rules]
    methods = {m for rule in routes.rules for m in rule.methods}

    def alternatives(applies: list[bool]) -> re.Pattern[str]:
        parts = [
            f"(?P<r{i}>{p})" for i, (p, ok) in enumerate(zip(paths, applies, strict=True)) if ok
        ]
        return re.compile("|".join(parts)) if parts else NEVER

    return CompiledRoutes(
        rules=tuple(_rule(rule) for rule in routes.rules),
        by_method={
            m: alternatives([not r.methods or m in r.methods for r in routes.rules])
            for m in methods
        },
        other_methods=alternatives([not r.methods for r in routes.rules]),
        default=routes.default,
    )


def _rule(rule: RouteRule) -> _Rule:
    require = rule.require
    return _Rule(
        action=rule.action,
        all_of=frozenset(require.all_of),
        any_of=frozenset(require.any_of),
        claims=tuple(sorted(require.claims.items())),
        refusal=Decision(False, tuple(sorted(require.scopes))),
    )


def _path_regex(rule: RouteRule) -> str:
    """The rule's paths as a regex over normal forms (the root written as "")."""
    path = rule.path
    if path is None:
        return ".*"
    if path.exact is not None:
        literal = _pattern_path(path.exact)
        return "" if literal == "/" else re.escape(literal)
    if path.prefix is not None:
        literal = _pattern_path(path.prefix)
        # Whole segments: "/admin" covers "/admin" and "/admin/x", not "/administrator".
        return ".*" if literal == "/" else re.escape(literal) + "(?:/.*)?"
    assert path.glob is not None
    return _glob_regex(path.glob.lower())


def _pattern_path(pattern: str) -> str:
    """A literal pattern in the paths' normal form (so ``/Admin/`` matches ``/admin``)."""
    return normalise_path(pattern) or pattern.lower()


def _glob_regex(glob: str) -> str:
    """``**`` (a whole segment) spans segments, ``*`` stays in one, ``?`` is one character."""
    parts = []
    for segment in (s for s in glob.split("/") if s):
        if segment == "**":
            # Zero or more segments: "/a/**/b" matches "/a/b" and "/a/x/y/b".
            parts.append("(?:/[^/]+)*")
            continue
        body = "".join(
            "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in segment
        )
        parts.append("/" + body)
    return "".join(parts)
