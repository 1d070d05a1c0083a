"""Two namespaces in one issuer: ``default`` (the victim) and ``evil`` (a namespace admin
who may write any Gatekey CR and Secret in ``evil`` only)."""

from typing import Any

from tests.support.manifests import credential, policy, role, secret


def in_namespace(namespace: str, *documents: dict[str, Any]) -> list[dict[str, Any]]:
    """The documents, placed in ``namespace``."""
    for document in documents:
        document["metadata"]["namespace"] = namespace
    return list(documents)


def tenant(namespace: str, scope: str) -> list[dict[str, Any]]:
    """Policies of both modes and types on ``ApiProxy/orders``, a Credential, a Role."""
    return in_namespace(
        namespace,
        policy("orders-jwt", "JWT"),
        policy("orders-opaque", "OAuth2"),
        policy("orders-acl-jwt", "JWT", management="ACL"),
        policy("orders-acl-opaque", "OAuth2", management="ACL"),
        credential("svc", ["ApiProxy/orders"]),
        role("admin", "ApiProxy/orders", "Credential/svc", scope=scope),
    )


def victim() -> list[dict[str, Any]]:
    return tenant("default", "orders.read")


def attacker() -> list[dict[str, Any]]:
    return tenant("evil", "orders.admin")


def adopted_key(namespace: str, name: str, client_id: str, client_secret: str) -> dict[str, Any]:
    """A user-written proxy-key Secret."""
    return in_namespace(namespace, secret(name, client_id=client_id, client_secret=client_secret))[
        0
    ]
