"""A client's public keys kept in a Secret (``jwksSecretRef``), read for the issuer (pure)."""

from collections.abc import Mapping

from pydantic import ValidationError

from gatekey.operator.model.client_keys import Jwks, JwksSecretRef
from gatekey.operator.model.status import JWKS_INVALID, JWKS_SECRET_MISSING
from gatekey.operator.render.types import SecretValues

Problem = tuple[str, str, str]
"""``(reason, message, path)`` for the CR's status."""


def jwks_from_secret(
    secrets: Mapping[str, SecretValues], ref: JwksSecretRef, path: str
) -> tuple[Jwks | None, Problem | None]:
    """The JWK Set the Secret ``ref`` names holds, or why not. Only public keys pass the
    model, so no private part is ever copied out; the message never quotes a value."""
    text = secrets.get(ref.name, {}).get(ref.key)
    if text is None:
        why = f"Secret {ref.name} with key {ref.key} (a JWK Set) not found"
        return None, (JWKS_SECRET_MISSING, why, path)
    try:
        return Jwks.model_validate_json(text), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        detail = f"{where}: {first['msg']}" if where else first["msg"]
        why = f"Secret {ref.name} key {ref.key} is not a public JWK Set ({detail})"
        return None, (JWKS_INVALID, why, path)
