"""Answers remembered for one snapshot at a time, in a table of bounded size (pure).

The ``/authz`` passes and the token endpoints' remembered grants both hold what the
whole check decided under the snapshot in force; a new snapshot (any change to
policies, keys, clients, ACLs, roles) makes every one of them stale at once.
"""

from typing import Generic, TypeVar

from gatekey.issuer.snapshot import Snapshot

K = TypeVar("K")
V = TypeVar("V")


class SnapshotMemo(Generic[K, V]):
    """Values decided under one snapshot, at most ``size``, the oldest dropped first.

    The hot path reads :attr:`table` itself (one dictionary look-up, no call), after
    :meth:`follow`."""

    def __init__(self, size: int) -> None:
        self._size = size
        self.table: dict[K, V] = {}
        """Always the same dictionary, emptied in place."""
        self.snapshot: Snapshot | None = None

    def follow(self, snapshot: Snapshot) -> None:
        """Forget every value unless ``snapshot`` is the one they were decided under."""
        if snapshot is not self.snapshot:
            self.table.clear()
            self.snapshot = snapshot

    def put(self, key: K, value: V, snapshot: Snapshot) -> None:
        """Remember ``value``, decided under ``snapshot``; one decided under an older
        snapshot (one that changed while the check waited) is not kept."""
        if snapshot is not self.snapshot:
            return
        table = self.table
        if key not in table and len(table) >= self._size:
            del table[next(iter(table))]
        table[key] = value

    def drop(self, key: K) -> None:
        """Forget the value of ``key`` (past its time)."""
        self.table.pop(key, None)
