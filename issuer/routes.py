"""Per-route decisions for ``/authz``: normalise the request path, match the rules (pure).

Rules are compiled once per snapshot (:func:`compile_routes`): each rule's paths into a
regular expression, and the rules into a tree of the literal path segments they start
with, so that a request tries only the rules whose literal prefix its path has, in rule
order, the first that matches deciding. Decisions are remembered per policy (bounded).

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
from dataclasses import dataclass, field
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
    methods: frozenset[str] = frozenset()
    """The methods it applies to; empty: every method."""
    path: re.Pattern[str] = re.compile(".*")
    """Its paths, over normal forms with the root written as ""."""

    def met_by(self, scope: frozenset[str], claims: Callable[[], Mapping[str, str]]) -> bool:
        if not self.all_of <= scope or (self.any_of and self.any_of.isdisjoint(scope)):
            return False
        if not self.claims:
            return True
        held = claims()
        return all(held.get(key) == value for key, value in self.claims)


@dataclass(slots=True)
class _Node:
    """A literal path segment: the rules whose literal prefix ends here, and what follows."""

    rules: list[int]
    children: dict[str, "_Node"]


CACHE_SIZE = 4096
"""Decisions remembered per policy; the table is emptied when full (paths come from
clients, so it must stay bounded)."""


@dataclass(frozen=True, slots=True)
class CompiledRoutes:
    """A policy's rules, ready to match normalised paths."""

    rules: tuple[_Rule, ...]
    root: _Node
    """Literal-prefix dispatch: each rule sits at the node of the whole path segments its
    pattern starts with (``/api/v1/orders/*`` under ``api`` / ``v1`` / ``orders``). A
    request only tries the rules on the nodes its own segments lead through, in rule
    order: with many rules under distinct prefixes, most are never tried."""
    default: Action
    cache: dict[tuple[str, str, tuple[str, ...]], Decision] = field(compare=False)
    """``(method, request target, token scope)`` -> decision, for decisions that did not
    read Credential Metadata (those depend on the client, and are not remembered)."""

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
        rule = self._first_match(method, path)
        if rule is None:
            return ALLOW if self.default == "Allow" else DENY
        if rule.action == "Deny":
            return DENY
        if rule.met_by(scope, claims):
            return ALLOW
        return rule.refusal

    def decide_request(
        self,
        method: str,
        target: str | None,
        scope: tuple[str, ...],
        claims: Callable[[], Mapping[str, str]],
    ) -> Decision:
        """:meth:`decide` for a raw request target (path and query as sent), remembered:
        a client repeating a request costs one look-up."""
        key = (method, target or "", scope) if target is not None else None
        if key is not None:
            found = self.cache.get(key)
            if found is not None:
                return found
        read: list[bool] = []

        def reading() -> Mapping[str, str]:
            read.append(True)
            return claims()

        path = None if target is None else normalise_path(target)
        decision = self.decide(method, path, frozenset(scope), reading)
        if key is not None and not read:
            if len(self.cache) >= CACHE_SIZE:
                self.cache.clear()
            self.cache[key] = decision
        return decision

    def _first_match(self, method: str, path: str) -> _Rule | None:
        """The first rule, in order, whose methods and path match."""
        node = self.root
        candidates = list(node.rules)
        deeper = False
        for segment in path.split("/")[1:]:
            found = node.children.get(segment)
            if found is None:
                break
            node = found
            if node.rules:
                candidates += node.rules
                deeper = True
        if deeper:
            candidates.sort()
        # The root is the empty sequence of segments, so that "/**" and prefix "/" cover it.
        matchable = "" if path == "/" else path
        for index in candidates:
            rule = self.rules[index]
            if (not rule.methods or method in rule.methods) and rule.path.fullmatch(matchable):
                return rule
        return None


def compile_routes(routes: Routes) -> CompiledRoutes:
    """Compile ``routes`` once (per snapshot)."""
    root = _Node([], {})
    for index, rule in enumerate(routes.rules):
        node = root
        for segment in _literal_segments(rule):
            node = node.children.setdefault(segment, _Node([], {}))
        node.rules.append(index)
    return CompiledRoutes(
        rules=tuple(_rule(rule) for rule in routes.rules),
        root=root,
        default=routes.default,
        cache={},
    )


def _literal_segments(rule: RouteRule) -> list[str]:
    """The whole, literal path segments every path the rule matches starts with."""
    path = rule.path
    if path is None:
        return []
    if path.glob is not None:
        segments = []
        for segment in (s for s in path.glob.lower().split("/") if s):
            if "*" in segment or "?" in segment:
                break
            segments.append(segment)
        return segments
    literal = _pattern_path(path.exact if path.exact is not None else path.prefix or "/")
    if normalise_path(literal) != literal:
        return []  # not a normal form: tried for every path, as its regex decides
    return [s for s in literal.split("/") if s]


def _rule(rule: RouteRule) -> _Rule:
    require = rule.require
    return _Rule(
        action=rule.action,
        all_of=frozenset(require.all_of),
        any_of=frozenset(require.any_of),
        claims=tuple(sorted(require.claims.items())),
        refusal=Decision(False, tuple(sorted(require.scopes))),
        methods=frozenset(rule.methods),
        path=re.compile(_path_regex(rule)),
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
