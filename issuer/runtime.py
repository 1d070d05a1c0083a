"""The issuer's moving parts, shared by every request: snapshot, store, clock, minter."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gatekey.issuer import audit
from gatekey.issuer.audit import AuditEntry
from gatekey.issuer.deny_list import DenyList
from gatekey.issuer.domain import PasswordCheck
from gatekey.issuer.metrics import Metrics
from gatekey.issuer.passwords import verify_password
from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.snapshot import Snapshot
from gatekey.issuer.store.events import Event, JtiDenied
from gatekey.issuer.store.ports import TokenStore
from gatekey.issuer.throttle import Throttle, ThrottleSettings
from gatekey.issuer.tokens.jwt_signer import JwtSigner, KeyMaterial
from gatekey.issuer.tokens.mint import Minter
from gatekey.issuer.verification import Verifier


class SnapshotHolder:
    """The current Snapshot. Replacing it is one reference assignment, so a request
    always sees one whole snapshot, never half an update."""

    def __init__(self, snapshot: Snapshot | None = None) -> None:
        self.current = snapshot or Snapshot()
        self.loaded = snapshot is not None

    def swap(self, snapshot: Snapshot) -> None:
        self.current = snapshot
        self.loaded = True


@dataclass
class Runtime:
    """What the HTTP layer needs; built by the CLI or by tests."""

    snapshots: SnapshotHolder
    store: TokenStore
    settings: IssuerSettings = field(default_factory=IssuerSettings)
    clock: Callable[[], float] = time.time
    verify_password: PasswordCheck = verify_password
    deny: DenyList = field(default_factory=DenyList)
    metrics: Metrics = field(default_factory=Metrics)
    throttle_settings: ThrottleSettings = field(default_factory=ThrottleSettings)
    source_healthy: bool = True
    """Whether the configuration source is in step (cluster mode: every watch is up), as
    the source last published it."""
    minter: Minter = field(init=False)
    verifier: Verifier = field(init=False)
    throttle: Throttle = field(init=False)

    def __post_init__(self) -> None:
        material = KeyMaterial()
        self.minter = Minter(
            self.settings.issuer_url,
            JwtSigner(material),
            omit_empty_scope=self.settings.omit_empty_scope,
        )
        self.verifier = Verifier(self.settings.issuer_url, self.store, self.deny, material)
        self.throttle = Throttle(self.store, self.throttle_settings)
        self.store.subscribe(self._on_event)

    async def revoke_jwt(self, jti: str, until: float | None) -> None:
        """Deny a JWT everywhere: durably in the store, then at once on every replica."""
        await self.store.deny_jti(jti, until)
        await self.store.publish(JtiDenied(jti, until))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, JtiDenied):
            self.deny.add(event.jti, event.until)

    def observe(self, entry: AuditEntry) -> None:
        """Write the audit line of a finished request and count it."""
        audit.write(entry, self.clock())
        self.metrics.observe(entry)

    # The runtime is what a configuration source publishes to
    # (:class:`~gatekey.issuer.config_source.Publisher`).

    def publish(self, snapshot: Snapshot) -> None:
        """Serve ``snapshot`` from now on."""
        self.snapshots.swap(snapshot)
        self.metrics.reloaded("ok", len(snapshot.errors))

    def unchanged(self) -> None:
        """A re-read found nothing new: counted, so that the periodic re-reads show."""
        self.metrics.reloaded("unchanged")

    def rebuild_failed(self) -> None:
        self.metrics.reloaded("error")

    def source_health(self, in_step: bool) -> None:
        self.source_healthy = in_step

    async def load_deny_list(self) -> None:
        """Fill the in-memory deny list from the store (at start-up)."""
        for jti, until in (await self.store.denied_jtis(self.clock())).items():
            self.deny.add(jti, until)
