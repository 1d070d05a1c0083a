"""Credential Metadata: values resolved from Secrets, secret entries moved out of the
ConfigMap, and keys that would replace a token response field refused (pure)."""

from collections.abc import Collection, Mapping

from gatekey.operator import contract
from gatekey.operator.model import Credential
from gatekey.operator.model.credential import Claim, SecretKeyRef, ValueFrom
from gatekey.operator.model.token_management import clashing_key
from gatekey.operator.render.types import SecretValues


def response_field_clash(cred: Credential, names: Collection[str]) -> tuple[str, str]:
    """``(message, path)`` when a metadata key is one of the response field ``names`` in
    force for ``cred`` (the entry would replace that field), else ``("", "")``."""
    keys = [claim.key for claim in cred.spec.claims]
    index = clashing_key(keys, names)
    if index is None:
        return "", ""
    return (
        f"claims key {keys[index]!r} is a token response field name (as renamed by the "
        "issuer-wide settings or a policy this Credential's ACL names): it would replace "
        "that field in the response; rename the key",
        f"spec.claims.{index}.key",
    )


def resolve_claims(
    cred: Credential, secrets: Mapping[str, SecretValues]
) -> tuple[tuple[Claim, ...], dict[str, str], str]:
    """Claims with Secret values resolved, the values of the Credential's metadata Secret
    (secret entries and those read from Secrets), and the ``name/key`` not found ("" if
    none): the ConfigMap never holds a secret value."""
    claims: list[Claim] = []
    hidden: dict[str, str] = {}
    for claim in cred.spec.claims:
        value = claim.value
        if claim.value_from is not None:
            ref = claim.value_from.secret_key_ref
            value = secrets.get(ref.name, {}).get(ref.key)
            if value is None:
                return (), {}, f"{ref.name}/{ref.key}"
        assert value is not None
        if claim.secret or claim.value_from is not None:
            hidden[claim.key] = value
            ref = SecretKeyRef(
                name=contract.credential_metadata_secret(cred.metadata.name), key=claim.key
            )
            claims.append(
                claim.model_copy(
                    update={"value": None, "value_from": ValueFrom(secret_key_ref=ref)}
                )
            )
        else:
            claims.append(claim)
    return tuple(claims), hidden, ""
