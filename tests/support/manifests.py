"""Builders for the manifests tests write: short to read, every default left to the model."""

from datetime import datetime
from functools import cache
from typing import Any

import bcrypt

from gatekey.operator.timestamps import rfc3339

API = "gatekey.io/v1alpha1"


def policy(
    name: str,
    type_: str = "JWT",
    target: str = "ApiProxy/orders",
    *,
    management: str = "Policy",
    proxies: list[str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    kind, _, target_name = target.partition("/")
    ref: dict[str, Any] = {"kind": kind, "name": target_name}
    if proxies:
        ref["proxies"] = proxies
    return {
        "apiVersion": API,
        "kind": "AuthPolicy",
        "metadata": {"name": name},
        "spec": {"type": type_, "management": management, "targetRef": ref, **spec},
    }


def credential(name: str, acl: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    entries = []
    for item in acl or []:
        kind, _, target = item.partition("/")
        entries.append({"kind": kind, "name": target})
    return {
        "apiVersion": API,
        "kind": "Credential",
        "metadata": {"name": name},
        "spec": {"acl": entries, **spec},
    }


def role(
    name: str, *subjects: str, scope: str | None = None, pool: str | None = None
) -> dict[str, Any]:
    """``subjects`` as ``Kind/name`` (``User/alice``); ``pool`` applies to User subjects."""
    listed = []
    for subject in subjects:
        kind, _, who = subject.partition("/")
        entry = {"kind": kind, "name": who}
        if kind == "User" and pool:
            entry["pool"] = pool
        listed.append(entry)
    spec: dict[str, Any] = {"subjects": listed}
    if scope:
        spec["scope"] = scope
    return {"apiVersion": API, "kind": "Role", "metadata": {"name": name}, "spec": spec}


@cache
def bcrypt_hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def user_pool(name: str, users: dict[str, str]) -> dict[str, Any]:
    """A user-pool Secret; ``users`` maps user name to clear password (hashed here)."""
    lines = "".join(f"{user}:{bcrypt_hash(pw)}\n" for user, pw in users.items())
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {"htpasswd": lines},
    }


def secret(name: str, **values: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": values}


def rotated_secret(
    name: str, client_id: str, current: str, previous: str, until: datetime
) -> dict[str, Any]:
    """A user-written client Secret in a rotation's overlap: ``previous`` authenticates
    strictly before ``until`` (docs/rotation.md)."""
    return secret(
        name,
        client_id=client_id,
        client_secret=current,
        previous_client_secret=previous,
        previous_client_secret_expires_at=rfc3339(until),
    )
