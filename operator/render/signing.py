"""The namespace's signing keys and their public JWKS (pure; the plan is in
:mod:`gatekey.operator.signing_keys`)."""

import json
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from gatekey.operator import contract
from gatekey.operator.model import AuthPolicy, Credential
from gatekey.operator.model.token_settings import TokenSettings
from gatekey.operator.render.objects import Output
from gatekey.operator.render.types import RenderInput
from gatekey.operator.signing_keys import SigningKey, plan_keys, public_jwks


def render_signing_keys(inputs: RenderInput, out: Output, policies: Sequence[AuthPolicy]) -> None:
    """Keep, add and retire keys for the algorithms the served JWT policies sign with."""
    algorithms = {p.spec.token.algorithm for p in policies if p.spec.type == "JWT"}
    existing = inputs.secrets.get(contract.SIGNING_KEYS_SECRET, {})
    keys = [
        SigningKey.model_validate(k) for k in _json_list(existing.get(contract.SIGNING_KEYS_KEY))
    ]
    if not algorithms and not keys:
        return
    settings = inputs.settings
    planned = plan_keys(
        keys,
        algorithms,
        inputs.now,
        rotation=settings.key_rotation,
        prepublish=settings.key_prepublish,
        retention=_retention(policies, inputs.credentials),
        new_key=inputs.entropy.signing_key,
    )
    dumped = [k.model_dump(by_alias=True, mode="json") for k in planned]
    out.secret(
        contract.SIGNING_KEYS_SECRET,
        "signing-keys",
        {contract.SIGNING_KEYS_KEY: contract.dump_json(dumped)},
        None,
    )
    out.configmap(
        contract.JWKS_CONFIGMAP,
        "jwks",
        {contract.JWKS_KEY: contract.dump_json(public_jwks(planned))},
        None,
    )


def _retention(
    policies: Iterable[AuthPolicy], credentials: Iterable[Credential]
) -> timedelta | None:
    """The longest access-token life a key may have signed for; None if any is immortal."""
    settings: list[TokenSettings] = [p.spec.token for p in policies if p.spec.type == "JWT"]
    settings += [c.spec.token for c in credentials]
    if any(s.immortal for s in settings):
        return None
    return timedelta(seconds=max((s.ttl_seconds for s in settings), default=0))


def _json_list(raw: str | None) -> list[Any]:
    if not raw:
        return []
    loaded = json.loads(raw)
    return loaded if isinstance(loaded, list) else []
