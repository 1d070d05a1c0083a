"""Per-route decisions for ``/authz``: normalise the request path, match the rules (pure).

Rules are compiled once per snapshot (:func:`compile_routes`); a request costs a
normalisation and, per rule until one matches, a method check and one string or
regex comparison.

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
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from gatekey.operator.model.routes import RouteRule, Routes

Action = Literal["Allow", "Deny"]
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_AMBIGUOUS = re.compile(r"%(2[Ff]|5[Cc]|[01][0-9A-Fa-f]|7[Ff])|%(?![0-9A-Fa-f]{2})")
"""An encoded ``/``, ``\\`` or control character, or a ``%`` that escapes nothing."""


def normalise_path(raw: str) -> str | None:
    """The normal form of a request target's path, or None when it has none."""
    path = raw.split("#", 1)[0].split("?", 1)[0]
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


@dataclass(frozen=True, slots=True)
class _Compiled:
    methods: frozenset[str]
    exact: str | None
    prefix: str | None
    glob: re.Pattern[str] | None
    action: Action
    all_of: frozenset[str]
    any_of: frozenset[str]
    claims: tuple[tuple[str, str], ...]
    required: tuple[str, ...]

    def matches(self, method: str, path: str) -> bool:
        if self.methods and method not in self.methods:
            return False
        if self.exact is not None:
            return path == self.exact
        if self.prefix is not None:
            return self.prefix == "/" or path == self.prefix or path.startswith(self.prefix + "/")
        # The root is the empty sequence of segments, so that "/**" covers it too.
        return self.glob is None or self.glob.fullmatch("" if path == "/" else path) is not None

    def met_by(self, scope: frozenset[str], claims: dict[str, str]) -> bool:
        return (
            self.all_of <= scope
            and (not self.any_of or not self.any_of.isdisjoint(scope))
            and all(claims.get(key) == value for key, value in self.claims)
        )


@dataclass(frozen=True, slots=True)
class CompiledRoutes:
    """A policy's rules, ready to match normalised paths."""

    rules: tuple[_Compiled, ...]
    default: Action

    def decide(
        self, method: str, path: str | None, scope: frozenset[str], claims: dict[str, str]
    ) -> Decision:
        """The decision for ``method`` on the normalised ``path`` (None: unknown or
        ambiguous, which only a rule-free ``Allow`` default lets through)."""
        if path is None:
            return Decision(not self.rules and self.default == "Allow")
        for rule in self.rules:
            if rule.matches(method, path):
                if rule.action == "Deny":
                    return Decision(False)
                return Decision(rule.met_by(scope, claims), rule.required)
        return Decision(self.default == "Allow")


def compile_routes(routes: Routes) -> CompiledRoutes:
    """Compile ``routes`` once (per snapshot)."""
    return CompiledRoutes(tuple(_compile(rule) for rule in routes.rules), routes.default)


def _compile(rule: RouteRule) -> _Compiled:
    path = rule.path
    exact = prefix = None
    glob = None
    if path is not None and path.exact is not None:
        exact = _pattern_path(path.exact)
    elif path is not None and path.prefix is not None:
        prefix = _pattern_path(path.prefix)
    elif path is not None and path.glob is not None:
        glob = re.compile(_glob_regex(path.glob.lower()))
    require = rule.require
    return _Compiled(
        methods=frozenset(rule.methods),
        exact=exact,
        prefix=prefix,
        glob=glob,
        action=rule.action,
        all_of=frozenset(require.all_of),
        any_of=frozenset(require.any_of),
        claims=tuple(sorted(require.claims.items())),
        required=tuple(sorted(require.scopes)),
    )


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
