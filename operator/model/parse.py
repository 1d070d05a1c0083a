"""Turn one YAML document into a resource, or a ManifestError that says where it went wrong."""

from typing import Any

from pydantic import ValidationError

from gatekey.operator.model.authpolicy import AuthPolicy
from gatekey.operator.model.credential import Credential
from gatekey.operator.model.errors import ManifestError
from gatekey.operator.model.role import Role
from gatekey.operator.model.secret import Secret

Resource = AuthPolicy | Credential | Role | Secret
GROUP_VERSION = "gatekey.io/v1alpha1"
_KINDS: dict[tuple[str, str], type[Resource]] = {
    (GROUP_VERSION, "AuthPolicy"): AuthPolicy,
    (GROUP_VERSION, "Credential"): Credential,
    (GROUP_VERSION, "Role"): Role,
    ("v1", "Secret"): Secret,
}


def resource_key(doc: object) -> tuple[str, str, str] | None:
    """``(kind, namespace, name)`` of a document Gatekey reads, read leniently, else None.

    Used to keep an object's last good version when a new version of it is invalid.
    """
    if not isinstance(doc, dict) or _model(doc) is None:
        return None
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return None
    namespace = meta.get("namespace") or "default"
    return str(doc["kind"]), str(namespace), meta["name"]


def parse_document(doc: Any, source: str, index: str) -> Resource | None:
    """The resource in ``doc``; None for kinds Gatekey does not read (an RBAC Role, a ConfigMap).

    Raises :class:`ManifestError` naming ``source``, ``index`` and the field at fault.
    """
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ManifestError(source, index, "", "a manifest must be a mapping")
    model = _model(doc)
    if model is None:
        return None
    try:
        # By alias only: a manifest spells fields as the CRD does (camelCase), never snake_case.
        return model.model_validate(doc, by_alias=True, by_name=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        raise ManifestError(source, index, path, _message(first["msg"])) from None


def _model(doc: dict[Any, Any]) -> type[Resource] | None:
    """The model of a Gatekey kind; None for other kinds (or non-string apiVersion/kind)."""
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return None
    return _KINDS.get((api_version, kind))


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")
