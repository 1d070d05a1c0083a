"""What ``render`` takes and gives: its inputs, settings and results (pure values)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gatekey.operator.client_ids import Holders
from gatekey.operator.contract import Manifest
from gatekey.operator.entropy import Entropy
from gatekey.operator.model import AuthPolicy, Credential, Role
from gatekey.operator.model.token_management import TokenManagement

SecretValues = Mapping[str, str]
CR = AuthPolicy | Credential | Role
CrKey = tuple[str, str]
"""``(kind, name)`` of a CR in the namespace rendered."""


@dataclass(frozen=True)
class RenderSettings:
    """Operator-wide settings that shape rendered objects."""

    key_rotation: timedelta = timedelta(days=90)
    """How long a signing key signs before its successor takes over."""
    key_prepublish: timedelta = timedelta(hours=1)
    """How long a new key is in the JWKS before it signs, so that caches learn it first."""
    token_management: TokenManagement = field(default_factory=TokenManagement)
    """The issuer-wide Token Management Settings of the issuers serving these objects: a
    Credential Metadata key equal to a response field name they rename to is refused."""


@dataclass(frozen=True)
class RenderInput:
    """Everything ``render`` reads for one namespace."""

    namespace: str
    policies: Sequence[AuthPolicy]
    credentials: Sequence[Credential]
    roles: Sequence[Role]
    secrets: Mapping[str, SecretValues]
    """The Secrets that exist in the namespace, by name (decoded values)."""
    now: datetime
    entropy: Entropy
    generated: frozenset[str] = frozenset()
    """Which of ``secrets`` Gatekey generated earlier (owned, not adopted)."""
    settings: RenderSettings = RenderSettings()
    client_id_holders: Holders | None = None
    """Who holds each client id across every namespace the operator reconciles; a CR
    whose id another holds is refused. None: no check (the embedded mode, where the
    issuer's snapshot decides between namespaces)."""


@dataclass(frozen=True)
class Status:
    """What ``render`` found about one CR: the Ready condition and the status fields."""

    ready: bool
    reason: str
    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""
    """The manifest field at fault, for a reason in
    :data:`~gatekey.operator.model.status.REJECTED`."""


@dataclass(frozen=True)
class Rendered:
    """The objects to write and the status of every CR, keyed by ``(kind, name)``."""

    objects: tuple[Manifest, ...]
    statuses: Mapping[CrKey, Status]
    rotations: Mapping[CrKey, str] = field(default_factory=dict)
    """CRs whose client secret this render rotated (or whose previous secret it dropped
    on request), with what happened in words: the operator posts them as Events."""

    def by_name(self, kind: str, name: str) -> Manifest | None:
        """The object of ``kind`` (Secret, ConfigMap) named ``name``, if rendered."""
        return next(
            (o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name), None
        )
