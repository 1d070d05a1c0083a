"""``gatekey rotate-secret``: rotate a generated client secret in the state dir, with overlap.

The new secret becomes ``client_secret``; the old one stays as the previous
secret until ``now + keep`` (docs/reference.md, "Rotate a client secret without
downtime"). A running ``gatekey serve`` watches the state dir and picks it up.
A Secret the user wrote in the manifests is never written: its rotation is the
user's (write ``previous_client_secret`` and its expiry into it).
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gatekey.issuer.embedded.source import EmbeddedSource
from gatekey.operator import contract
from gatekey.operator.entropy import Entropy
from gatekey.operator.model import AuthPolicy, Credential, Resource, Secret
from gatekey.operator.model.durations import (
    DURATION_PATTERN,
    MAX_PREVIOUS_SECRET_TTL,
    duration_seconds,
)
from gatekey.operator.render import CLIENT_SECRET_BYTES
from gatekey.operator.rotation import pruned, rotated

TARGET_KINDS = ("Credential", "ApiProxy", "ProxyGroup", "PolicyGroup")


class RotationError(Exception):
    """Why a rotation cannot be done, in one line for the user."""


@dataclass(frozen=True)
class Rotated:
    """The client's new credentials, and until when the previous secret still works."""

    client_id: str
    client_secret: str
    previous_expires_at: str


def parse_keep(text: str) -> timedelta:
    """``--keep``: a duration such as ``30m``, ``24h`` or ``7d``."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise RotationError(f"--keep {text!r} is not a duration such as 30m, 24h or 7d")
    if duration_seconds(text) > duration_seconds(MAX_PREVIOUS_SECRET_TTL):
        raise RotationError(f"--keep {text!r} is longer than {MAX_PREVIOUS_SECRET_TTL}")
    return timedelta(seconds=duration_seconds(text))


def secret_name_of(resources: Iterable[Resource], namespace: str, target: str) -> str:
    """The client Secret of ``Kind/NAME`` in ``namespace`` (a Credential, or a target's
    proxy key)."""
    kind, _, name = target.partition("/")
    if kind not in TARGET_KINDS or not name:
        raise RotationError(f"{target!r} is not one of {'/NAME, '.join(TARGET_KINDS)}/NAME")
    for resource in resources:
        if resource.metadata.namespace != namespace:
            continue
        if kind == "Credential" and isinstance(resource, Credential):
            if resource.metadata.name == name:
                return resource.secret_name
        elif (
            isinstance(resource, AuthPolicy)
            and resource.spec.management == "Policy"
            and resource.target.kind == kind
            and resource.target.name == name
        ):
            return resource.proxy_key_secret_name
    what = "Credential" if kind == "Credential" else "Policy-mode AuthPolicy targeting"
    raise RotationError(f"no {what} {target} in namespace {namespace}")


def rotate_secret(
    source: EmbeddedSource,
    namespace: str,
    target: str,
    keep: timedelta,
    now: datetime,
    entropy: Entropy,
) -> Rotated:
    """Rotate the generated client Secret of ``target`` in the state dir."""
    build = source.build()  # generates the Secret first, if it was never served
    name = secret_name_of(build.resources, namespace, target)
    if any(
        isinstance(r, Secret) and r.metadata.namespace == namespace and r.metadata.name == name
        for r in build.resources
    ):
        raise RotationError(
            f"Secret {namespace}/{name} is written in the manifests (user-owned): Gatekey never "
            f"writes it; put the new secret in {contract.CLIENT_SECRET_KEY} and the old one in "
            f"{contract.PREVIOUS_CLIENT_SECRET_KEY} with "
            f"{contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY} there"
        )
    with source.state.locked():
        values = source.state.secrets().get((namespace, name))
        if not values or not values.get(contract.CLIENT_SECRET_KEY):
            raise RotationError(
                f"Secret {namespace}/{name} was not generated (is {target} served?)"
            )
        new = rotated(pruned(values, now), entropy.token(CLIENT_SECRET_BYTES), now, keep)
        source.state.save(namespace, name, new)
    return Rotated(
        client_id=new[contract.CLIENT_ID_KEY],
        client_secret=new[contract.CLIENT_SECRET_KEY],
        previous_expires_at=new[contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY],
    )
