"""Who holds a client id when several objects claim it (pure).

Client ids are global across the namespaces one issuer serves, while anyone who may
write a Secret in some namespace can write any ``client_id`` into it. A clash must
therefore never move a client id: the holder stays, every newcomer is refused.

- The object that held the id in an earlier build keeps it, even while it is absent
  (an invalid edit, a deletion): otherwise a typo in the holder's namespace would hand
  its id to whoever claimed it meanwhile. An id is freed only by a restart.
- Otherwise (a first load) the claim whose Secret is oldest holds it: the API server
  sets ``creationTimestamp``, so a newcomer cannot antedate itself.
- Otherwise (no timestamps, as in the embedded mode, or a tie) no one holds it until
  the clash is resolved: refusing both is safe, guessing is not.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

Holder = tuple[str, str, str]
"""``(kind, namespace, name)`` of the object that claims a client id."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ClientIdClaim(Generic[T]):
    """One object's claim to a client id."""

    client_id: str
    identity: Holder
    created: str | None
    """The claiming Secret's ``creationTimestamp`` (RFC 3339, as the API server writes it)."""
    client: T


def award_client_ids(
    claims: Iterable[ClientIdClaim[T]], previous: Mapping[str, Holder]
) -> tuple[dict[str, ClientIdClaim[T]], list[tuple[ClientIdClaim[T], ClientIdClaim[T] | None]]]:
    """The claim that holds each client id, and the refused claims with their holder."""
    by_id: dict[str, list[ClientIdClaim[T]]] = defaultdict(list)
    for claim in claims:
        by_id[claim.client_id].append(claim)
    held: dict[str, ClientIdClaim[T]] = {}
    refused: list[tuple[ClientIdClaim[T], ClientIdClaim[T] | None]] = []
    for client_id, group in by_id.items():
        holder = _holder(group, previous.get(client_id))
        if holder is not None:
            held[client_id] = holder
        refused += [(claim, holder) for claim in group if claim is not holder]
    return held, refused


def _holder(group: list[ClientIdClaim[T]], previous: Holder | None) -> ClientIdClaim[T] | None:
    if previous is not None:
        return next((claim for claim in group if claim.identity == previous), None)
    if len(group) == 1:
        return group[0]
    stamps = [claim.created for claim in group]
    if not all(stamps):
        return None
    # The API server writes one format (``2026-12-01T23:05:13Z``): text order is time order.
    oldest = min(s for s in stamps if s)
    first = [claim for claim in group if claim.created == oldest]
    return first[0] if len(first) == 1 else None
