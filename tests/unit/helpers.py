"""Manifest builders and a repeatable Entropy for the unit tests."""

from datetime import UTC, datetime
from functools import cache
from typing import Any

from gatekey.operator.entropy import generate_jwk, with_kid
from gatekey.operator.model import AuthPolicy, Credential, Role, parse_document
from gatekey.operator.render import Rendered, RenderInput, render

API = "gatekey.io/v1alpha1"
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
ALGORITHMS = (
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
    "HS256",
    "HS384",
    "HS512",
)


@cache
def _base_key(family: str) -> dict[str, Any]:
    """One key per family, once per session (RSA-2048 generation is slow)."""
    return with_kid(generate_jwk(family))


class FakeEntropy:
    """Counter-based tokens and fixed keys: the same calls give the same values."""

    def __init__(self) -> None:
        self.tokens = 0
        self.keys = 0

    def token(self, nbytes: int) -> str:
        self.tokens += 1
        return f"tok{self.tokens:04d}x{nbytes}"

    def signing_key(self, alg: str) -> dict[str, Any]:
        self.keys += 1
        family = "RS256" if alg[:2] in ("RS", "PS") else alg
        return {**_base_key(family), "kid": f"{alg.lower()}-{self.keys}"}


def policy_doc(
    name: str,
    type_: str = "JWT",
    target: str = "ApiProxy/orders",
    *,
    created: str | None = None,
    uid: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    kind, _, target_name = target.partition("/")
    meta: dict[str, Any] = {"name": name, "uid": uid or f"uid-{name}"}
    if created:
        meta["creationTimestamp"] = created
    spec.setdefault("targetRef", {"kind": kind, "name": target_name})
    return {
        "apiVersion": API,
        "kind": "AuthPolicy",
        "metadata": meta,
        "spec": {"type": type_, **spec},
    }


def credential_doc(name: str, *acl: str, **spec: Any) -> dict[str, Any]:
    entries = [dict(zip(("kind", "name"), a.split("/"), strict=True)) for a in acl]
    return {
        "apiVersion": API,
        "kind": "Credential",
        "metadata": {"name": name, "uid": f"uid-{name}"},
        "spec": {"acl": entries, **spec},
    }


def role_doc(name: str, *subjects: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Role",
        "metadata": {"name": name, "uid": f"uid-{name}"},
        "spec": {"subjects": list(subjects), **spec},
    }


def secret_doc(name: str, **values: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": values}


def parse(doc: dict[str, Any]) -> Any:
    parsed = parse_document(doc, "test.yaml", "0")
    assert parsed is not None
    return parsed


def do_render(
    *docs: dict[str, Any],
    secrets: dict[str, dict[str, str]] | None = None,
    generated: frozenset[str] = frozenset(),
    now: datetime = NOW,
    entropy: FakeEntropy | None = None,
) -> Rendered:
    """Render the documents (AuthPolicy, Credential, Role) in namespace ``default``."""
    parsed = [parse(d) for d in docs]
    return render(
        RenderInput(
            namespace="default",
            policies=[p for p in parsed if isinstance(p, AuthPolicy)],
            credentials=[p for p in parsed if isinstance(p, Credential)],
            roles=[p for p in parsed if isinstance(p, Role)],
            secrets=secrets or {},
            now=now,
            entropy=entropy or FakeEntropy(),
            generated=generated,
        )
    )
