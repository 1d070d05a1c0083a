"""Client Secrets (a Credential's secret, a target's proxy key): adopted, generated or
rotated; and the client-id check that may refuse a CR before any of it (pure).

Secrets the user made are adopted: copied with their values untouched, labelled,
given no ownerReference, and never rotated (a rotation request on one is refused and
reported). Generated Secrets are owned by their CR and rotated on request
(docs/reference.md, "Rotate a client secret without downtime").
"""

import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from gatekey.operator import contract
from gatekey.operator.client_ids import refusal
from gatekey.operator.contract import ConfigKind
from gatekey.operator.model import AuthPolicy, Credential
from gatekey.operator.model.durations import duration_seconds
from gatekey.operator.model.status import CLIENT_ID_CONFLICT
from gatekey.operator.render.objects import Output, add_owner
from gatekey.operator.render.types import CR, RenderInput
from gatekey.operator.rotation import (
    generations,
    handled_requests,
    pruned,
    rotated,
    without_previous,
)
from gatekey.operator.timestamps import rfc3339

CLIENT_ID_BYTES = 12
CLIENT_SECRET_BYTES = 32


class ClientSecrets:
    """The client Secrets of one render."""

    def __init__(self, inputs: RenderInput, out: Output) -> None:
        self.inputs = inputs
        self.out = out
        self.refused_rotation: set[str] = set()
        """Adopted client Secrets whose CRs ask for a rotation."""

    def client_id_taken(self, cr: AuthPolicy | Credential) -> bool:
        """Refuse ``cr`` (nothing of it rendered, its adopted Secret left unlabelled) when
        another CR holds the client id it would use, or the id is contested."""
        held = self.inputs.client_id_holders
        why = "" if held is None else refusal(held, cr, self.inputs.secrets)
        if why:
            self.out.status(cr, False, CLIENT_ID_CONFLICT, why)
        return bool(why)

    def render(self, name: str, owner: CR, kind: ConfigKind, client_id: str | None) -> str | None:
        """Adopt the Secret ``name`` if it exists, else generate it; its client id, or None
        when an existing one lacks a client id or secret."""
        rendered = self.out.rendered_secret(name)
        if rendered is not None:
            add_owner(rendered, owner)
            return contract.secret_values(rendered)[contract.CLIENT_ID_KEY]
        existing = self.inputs.secrets.get(name)
        if existing is not None:
            found = existing.get(contract.CLIENT_ID_KEY) or client_id
            if not found or not existing.get(contract.CLIENT_SECRET_KEY):
                return None
            values = dict(existing) | {contract.CLIENT_ID_KEY: found}
            if name in self.inputs.generated:
                self.out.secret(name, kind, self._rotation(name, values, owner), owner)
                return found
            if self._requests(name, owner, contract.ROTATE_SECRET_ANNOTATION):
                self.refused_rotation.add(name)
            obj = self.out.secret(name, kind, values, None)
            obj["metadata"]["annotations"][contract.ADOPTED_ANNOTATION] = "true"
            add_owner(obj, owner)  # provenance only: adopted
            return found
        entropy = self.inputs.entropy
        found = client_id or entropy.token(CLIENT_ID_BYTES)
        values = {
            contract.CLIENT_ID_KEY: found,
            contract.CLIENT_SECRET_KEY: entropy.token(CLIENT_SECRET_BYTES),
            contract.CLIENT_SECRET_CREATED_AT_KEY: rfc3339(self.inputs.now),
        }
        requested = self._requests(name, owner, contract.ROTATE_SECRET_ANNOTATION)
        if requested:  # a request made before the Secret existed is already met
            values[contract.ROTATION_HANDLED_KEY] = _marks(requested)
        self.out.secret(name, kind, values, owner)
        return found

    def generations(self, name: str) -> dict[str, Any]:
        """The status view of the rendered client Secret ``name`` (no values)."""
        obj = self.out.rendered_secret(name)
        return generations(contract.secret_values(obj)) if obj is not None else {}

    def _requests(self, name: str, owner: CR, annotation: str) -> frozenset[str]:
        """The values of ``annotation`` on every CR whose client Secret is ``name``: two
        Policy-mode AuthPolicies of one target share their proxy key."""
        sharing: list[CR] = [owner]
        if isinstance(owner, AuthPolicy):
            sharing += [
                p
                for p in self.inputs.policies
                if p.spec.management == "Policy" and p.proxy_key_secret_name == name
            ]
        return frozenset(
            v for cr in sharing if (v := cr.metadata.annotations.get(annotation, "").strip())
        )

    def _rotation(self, name: str, values: dict[str, str], owner: CR) -> dict[str, str]:
        """A generated client Secret's values after the rotation requests on its CRs.

        A ``gatekey.io/rotate-secret`` value not handled yet rotates once (the values
        handled are kept in the Secret, so a restarted operator does not rotate again);
        ``gatekey.io/rotation-complete`` equal to a handled value drops the previous
        secret; an expired previous secret is dropped.
        """
        now = self.inputs.now
        out = pruned(values, now)
        handled = handled_requests(values)
        requested = self._requests(name, owner, contract.ROTATE_SECRET_ANNOTATION)
        key = (owner.kind, owner.metadata.name)
        if requested - handled:
            assert isinstance(owner, AuthPolicy | Credential)  # the owners of client Secrets
            keep = timedelta(seconds=duration_seconds(owner.spec.previous_secret_ttl))
            new_secret = self.inputs.entropy.token(CLIENT_SECRET_BYTES)
            out = rotated(out, new_secret, now, keep, requested)
            self.out.rotations[key] = (
                f"rotated the client secret in Secret {name}; the previous one "
                f"authenticates until {out[contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY]}"
            )
            return out
        complete = self._requests(name, owner, contract.ROTATION_COMPLETE_ANNOTATION)
        if complete & handled and contract.PREVIOUS_CLIENT_SECRET_KEY in out:
            self.out.rotations[key] = f"rotation complete: dropped the previous secret of {name}"
            out = without_previous(out)
        return out


def refusal_message(secret_name: str) -> str:
    """Why a rotation request on an adopted Secret is not carried out, and what to do."""
    return (
        f"{contract.ROTATE_SECRET_ANNOTATION} is set but Secret {secret_name} is user-owned "
        f"(adopted): Gatekey never writes it. Write the new secret into client_secret and the "
        f"old one into {contract.PREVIOUS_CLIENT_SECRET_KEY} with "
        f"{contract.PREVIOUS_CLIENT_SECRET_EXPIRES_AT_KEY}, or remove the annotation"
    )


def _marks(values: Iterable[str]) -> str:
    return json.dumps(sorted(values), separators=(",", ":"))
