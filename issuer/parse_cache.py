"""Parsed payloads kept from one Snapshot build to the next (pure)."""

import json
from typing import Any

from gatekey.operator.client_ids import Identity
from gatekey.operator.model.authpolicy import AuthPolicySpec
from gatekey.operator.model.credential import CredentialSpec
from gatekey.operator.model.role import RoleSpec

SpecModel = AuthPolicySpec | CredentialSpec | RoleSpec


class ParseCache:
    """What one build hands to the next: parsed payloads, and who held each client id.

    Payloads are keyed by their text. Rebuilding after one object changed then costs
    dictionary work for the others, not JSON decoding and validation: a change to one
    Credential among 10,000 does not parse the 9,999 again. Only entries used by the
    latest build are kept. The holders let a clash keep the client id where it was.
    """

    def __init__(self) -> None:
        self._previous: dict[tuple[str, str], tuple[dict[str, Any], SpecModel]] = {}
        self._current: dict[tuple[str, str], tuple[dict[str, Any], SpecModel]] = {}
        self.holders: dict[str, Identity] = {}
        """client id -> the object that held it in the latest build."""

    def parse(
        self, key: str, text: str, model: type[SpecModel]
    ) -> tuple[dict[str, Any], SpecModel]:
        """The payload ``text`` (JSON) and its validated ``spec``."""
        slot = (key, text)
        found = self._current.get(slot) or self._previous.get(slot)
        if found is None:
            loaded = json.loads(text)
            if not isinstance(loaded, dict):
                raise TypeError(f"{key} is not an object")
            # The validated spec replaces its raw form: 10,000 Credentials are held once.
            found = (loaded, model.model_validate(loaded.pop("spec")))
        self._current[slot] = found
        return found

    def finish(self) -> None:
        """End a build: forget what it did not use."""
        self._previous, self._current = self._current, {}
