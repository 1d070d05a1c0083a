"""What the Kubernetes API server does to objects, as pure functions for the emulator.

Patches (JSON merge patch RFC 7386, JSON patch RFC 6902), label and field selectors,
and structural-schema handling of custom resources (pruning, defaulting, OpenAPI
validation, CEL ``x-kubernetes-validations``). Each follows the API server's
documented behaviour closely enough for an operator test, not byte for byte.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import celpy
import jsonschema

# JSON merge patch (RFC 7386) ---------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# JSON patch (RFC 6902) ----------------------------------------------------------------


class PatchFailed(Exception):
    """A JSON patch that cannot be applied: the API server answers 422."""


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 ``add``, ``remove``, ``replace``, ``move``, ``copy`` and ``test``."""
    if not isinstance(ops, list):
        raise PatchFailed("a JSON patch is a list of operations")
    result = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchFailed(f"malformed operation: {op!r}")
        kind, path = op["op"], _pointer(op["path"])
        if kind == "test":
            if _get(result, path) != op.get("value"):
                raise PatchFailed(f"test failed at {op['path']}")
        elif kind == "add":
            result = _add(result, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            result = _remove(result, path)
        elif kind == "replace":
            _get(result, path)  # must exist
            result = _add(_remove(result, path), path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_get(result, source))
            if kind == "move":
                result = _remove(result, source)
            result = _add(result, path, value)
        else:
            raise PatchFailed(f"unknown operation {kind!r}")
    return result


def _pointer(text: str) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise PatchFailed(f"bad JSON pointer {text!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in text[1:].split("/")]


def _get(doc: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise PatchFailed(f"path /{'/'.join(path)} does not exist")
    return doc


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = len(parent) if last == "-" else int(last) if last.isdigit() else -1
        if not 0 <= index <= len(parent):
            raise PatchFailed(f"bad array index {last!r}")
        parent.insert(index, value)
    else:
        raise PatchFailed(f"cannot add under /{'/'.join(path[:-1])}")
    return doc


def _remove(doc: Any, path: list[str]) -> Any:
    if not path:
        raise PatchFailed("cannot remove the whole document")
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise PatchFailed(f"path /{'/'.join(path)} does not exist")
    return doc


# Selectors ----------------------------------------------------------------------------

Matcher = Callable[[Mapping[str, Any]], bool]
_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9_./-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9_.-]*)"
    r"|\s+(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
)


class BadSelector(ValueError):
    """A selector the API server would reject with 400."""


def label_selector(text: str | None) -> Matcher:
    """Equality- and set-based label selectors, as ``kubectl get -l`` sends them."""
    if not text:
        return lambda _obj: True
    checks = [_requirement(part) for part in _split(text)]

    def match(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return match


def _split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _requirement(text: str) -> Callable[[Mapping[str, str]], bool]:
    found = _REQUIREMENT.match(text)
    if not found:
        raise BadSelector(f"unable to parse requirement: {text!r}")
    key, op, value = found["key"], found["op"], found["value"]
    if found["neg"]:
        if op or found["set"]:
            raise BadSelector(f"unable to parse requirement: {text!r}")
        return lambda labels: key not in labels
    if op in ("=", "=="):
        return lambda labels: labels.get(key) == value
    if op == "!=":
        return lambda labels: labels.get(key) != value
    if found["set"]:
        values = {v.strip() for v in found["values"].split(",")}
        if found["set"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    return lambda labels: key in labels


def field_selector(text: str | None) -> Matcher:
    """Selectors on ``metadata.name`` and ``metadata.namespace`` (``=``, ``==``, ``!=``)."""
    if not text:
        return lambda _obj: True
    checks: list[Matcher] = []
    for part in text.split(","):
        found = re.match(r"^\s*(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(\S*)\s*$", part)
        if not found:
            raise BadSelector(f"field label not supported: {part!r}")
        field, op, value = found.groups()
        key = field.split(".")[1]

        def check(obj: Mapping[str, Any], key: str = key, op: str = op, value: str = value) -> bool:
            actual = (obj.get("metadata") or {}).get(key)
            return (actual == value) if op != "!=" else (actual != value)

        checks.append(check)
    return lambda obj: all(c(obj) for c in checks)


# Structural schemas: pruning, defaulting, validation -----------------------------------


_FORMATS = jsonschema.FormatChecker(formats=())
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@_FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    """RFC 3339, as the API server's ``format: date-time`` (jsonschema checks it only
    with an optional package, so it is done here)."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class SchemaError:
    """One reason an object is invalid, with the field path the API server reports."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass
class CustomSchema:
    """The ``openAPIV3Schema`` of one version of a CRD, applied as the API server does:
    null and unknown fields pruned, defaults filled, then OpenAPI and CEL validation."""

    schema: dict[str, Any]

    def __post_init__(self) -> None:
        self._validator = jsonschema.Draft202012Validator(self.schema, format_checker=_FORMATS)

    def admit(
        self, obj: dict[str, Any], *, strict: bool
    ) -> tuple[dict[str, Any], list[SchemaError]]:
        """``obj`` pruned and defaulted, and what is wrong with it (``strict``: unknown fields
        are errors, as with ``kubectl --validate=strict``, rather than silently dropped)."""
        errors: list[SchemaError] = []
        meta = obj.get("metadata")
        cleaned = _prune(obj, self.schema, "", errors, strict, root=True)
        if meta is not None:
            cleaned["metadata"] = meta  # metadata is the API server's, never pruned
        _apply_defaults(cleaned, self.schema)
        for error in self._validator.iter_errors(cleaned):
            path = ".".join(str(p) for p in error.absolute_path)
            errors.append(SchemaError(path, error.message))
        errors += _list_types(cleaned, self.schema, "")
        errors += _cel(cleaned, self.schema, "")
        return cleaned, errors


def _prune(
    value: Any,
    schema: Mapping[str, Any],
    path: str,
    errors: list[SchemaError],
    strict: bool,
    *,
    root: bool = False,
) -> Any:
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        out = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if item is None and not (props and props.get(key, {}).get("nullable")):
                continue  # nulls of non-nullable fields are pruned before defaulting
            if props is not None and key in props:
                out[key] = _prune(item, props[key], where, errors, strict)
            elif isinstance(extra, Mapping):
                out[key] = _prune(item, extra, where, errors, strict)
            elif preserve or props is None or (root and key == "metadata"):
                out[key] = item
            elif strict:
                errors.append(SchemaError(where, "field not declared in schema"))
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [
            _prune(v, schema["items"], f"{path}[{i}]", errors, strict) for i, v in enumerate(value)
        ]
    return value


def _apply_defaults(value: Any, schema: Mapping[str, Any]) -> None:
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                _apply_defaults(value[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for item in value.values():
                _apply_defaults(item, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            _apply_defaults(item, schema["items"])


def _list_types(value: Any, schema: Mapping[str, Any], path: str) -> list[SchemaError]:
    """``x-kubernetes-list-type``: ``set`` items and ``map`` keys must be unique."""
    errors: list[SchemaError] = []
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
        list_type = schema.get("x-kubernetes-list-type")
        if list_type in ("set", "map"):
            keys = schema.get("x-kubernetes-list-map-keys") or ()
            seen = [
                tuple(item.get(k) for k in keys) if list_type == "map" else repr(item)
                for item in value
                if isinstance(item, dict) or list_type == "set"
            ]
            for dup in {k for k in seen if seen.count(k) > 1}:
                errors.append(SchemaError(path, f"Duplicate value: {dup!r}"))
        for i, item in enumerate(value):
            errors += _list_types(item, items or {}, f"{path}[{i}]")
    elif isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, item in value.items():
            sub = props.get(key, schema.get("additionalProperties"))
            if isinstance(sub, Mapping):
                errors += _list_types(item, sub, f"{path}.{key}" if path else key)
    return errors


@cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def cel_rule_holds(rule: str, value: Any) -> bool:
    """Evaluate one ``x-kubernetes-validations`` rule with ``self`` bound to ``value``."""
    result = _program(rule).evaluate({"self": celpy.json_to_cel(value)})
    if isinstance(result, Exception):
        raise result
    return bool(result)


def _cel(value: Any, schema: Mapping[str, Any], path: str) -> list[SchemaError]:
    errors: list[SchemaError] = []
    for rule in schema.get("x-kubernetes-validations", ()):
        try:
            held = cel_rule_holds(rule["rule"], value)
        except Exception as exc:  # an evaluation error rejects the object too
            errors.append(SchemaError(path, f"rule {rule['rule']!r} failed: {exc}"))
            continue
        if not held:
            errors.append(SchemaError(path, rule.get("message") or f"failed rule {rule['rule']}"))
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, item in value.items():
            sub = props.get(key, schema.get("additionalProperties"))
            if isinstance(sub, Mapping):
                errors += _cel(item, sub, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            errors += _cel(item, schema["items"], f"{path}[{i}]")
    return errors
