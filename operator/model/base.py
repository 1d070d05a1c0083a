"""The base of every spec model: camelCase on the wire, frozen, no unknown fields."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict


class Spec(BaseModel):
    """A part of a manifest: fields are spelled in camelCase, as Kubernetes conventions ask."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )


def cel_rules(*rules: tuple[str, str]) -> JsonDict:
    """``x-kubernetes-validations`` (CEL) for a model's CRD schema: ``(rule, message)`` pairs.

    Written next to the Python validator that enforces the same rule, so that the API
    server rejects what ``parse_document`` rejects; tests evaluate both on the same input.
    """
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}
