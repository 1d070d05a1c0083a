"""The issuer's moving parts, shared by every request: snapshot, store, clock, minter."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gatekey.issuer.grants.context import PasswordCheck
from gatekey.issuer.passwords import verify_password
from gatekey.issuer.settings import IssuerSettings
from gatekey.issuer.snapshot import Snapshot
from gatekey.issuer.store.base import TokenStore
from gatekey.issuer.tokens.mint import Minter


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
    minter: Minter = field(init=False)

    def __post_init__(self) -> None:
        self.minter = Minter(self.settings.issuer_url)
