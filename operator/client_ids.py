"""Who holds a client id when several clients claim it: one rule for the operator and
the issuer (pure).

Client ids are global (the issuer finds a client by its id alone), while anyone who
may write a Secret or a Credential in some namespace can write any ``client_id``. A
clash must therefore never move a client id: the holder stays, every newcomer is
refused (``ClientIdConflict``) and its objects are not served. The rule, in order:

1. The incumbent keeps it: the claim served under that id now. The operator knows it
   from the CRs' statuses (only the operator writes status); the issuer from its
   previous build, and keeps the id for it even while it is absent (an invalid edit,
   a deletion) until a restart, so that a typo never hands the id to a newcomer.
2. Otherwise the single oldest claim holds it. Age is a ``creationTimestamp`` the API
   server set (the CR's for the operator, the Secret's for the issuer), so no one can
   backdate a claim.
3. Otherwise (a claim without a timestamp, as in the embedded mode, or a tie) no one
   holds it until the clash is resolved: refusing every claimant is safe, guessing is
   not.

Age alone would not do: a tenant with an old CR could point it at the client id of a
newer one (it is in every token) and, being older, take it over.

On the operator's side a claim is what the issuer would serve: the proxy key of
Policy-mode AuthPolicies (one claim per proxy-key Secret: the JWT and OAuth2 policies
of one target share it), or a Credential. A client id that Gatekey would still
generate at random claims nothing (no one can know it in advance).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from gatekey.operator import contract
from gatekey.operator.model import AuthPolicy, Credential

Identity = tuple[str, str, str]
"""``(kind, namespace, name)`` of the object that claims a client id."""
CrKey = tuple[str, str]
"""``(kind, name)`` of a CR in its namespace."""
T = TypeVar("T")
_UNKNOWN = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ClientIdClaim(Generic[T]):
    """One would-be holder of ``client_id``; ``client`` is what the caller serves."""

    client_id: str
    identity: Identity
    created: datetime | None
    """When the API server created the claiming object; None if unknown."""
    client: T

    def __str__(self) -> str:
        kind, namespace, name = self.identity
        return f"{kind} {namespace}/{name}"


Refused = list[tuple[ClientIdClaim[T], ClientIdClaim[T] | None]]
"""Refused claims, each with the claim that holds its id (None: no one does)."""


def award(
    claims: Iterable[ClientIdClaim[T]], incumbents: Mapping[str, Identity]
) -> tuple[dict[str, ClientIdClaim[T]], Refused[T]]:
    """The claim that holds each client id, and the refused claims; ``incumbents``:
    client id -> the identity served under it now (rule 1)."""
    by_id: dict[str, list[ClientIdClaim[T]]] = defaultdict(list)
    for claim in claims:
        by_id[claim.client_id].append(claim)
    held: dict[str, ClientIdClaim[T]] = {}
    refused: Refused[T] = []
    for client_id, group in by_id.items():
        holder = _holder(group, incumbents.get(client_id))
        if holder is not None:
            held[client_id] = holder
        refused += [(claim, holder) for claim in group if claim is not holder]
    return held, refused


def _holder(
    group: Sequence[ClientIdClaim[T]], incumbent: Identity | None
) -> ClientIdClaim[T] | None:
    if incumbent is not None:
        return next((claim for claim in group if claim.identity == incumbent), None)
    if len(group) == 1:
        return group[0]
    stamps = [claim.created for claim in group]
    if any(stamp is None for stamp in stamps):
        return None
    oldest = min(stamp for stamp in stamps if stamp is not None)
    first = [claim for claim in group if claim.created == oldest]
    return first[0] if len(first) == 1 else None


# The operator's claims: CRs -----------------------------------------------------------


@dataclass(frozen=True)
class CrClaim:
    """What claims a client id in one namespace: one proxy key or one Credential."""

    members: frozenset[CrKey]
    """Every CR claiming through it (the policies sharing a proxy key)."""
    served: bool = False
    """One of its CRs is served under this client id now (its status says so)."""


Claim = ClientIdClaim[CrClaim]
Holders = Mapping[str, Claim | None]
"""Client id -> the claim that holds it; None for an id claimed by several, held by none."""


def claimed_id(resource: AuthPolicy | Credential, secrets: Mapping[str, Mapping[str, str]]) -> str:
    """The client id ``resource`` would be served under, if known before rendering; else ""
    (no usable Secret yet, or an id still to be generated at random)."""
    if isinstance(resource, AuthPolicy):
        if resource.spec.management != "Policy":
            return ""
        values = secrets.get(resource.proxy_key_secret_name)
        if values is None or not values.get(contract.CLIENT_SECRET_KEY):
            return ""
        return values.get(contract.CLIENT_ID_KEY) or ""
    values = secrets.get(resource.secret_name)
    if values is None:
        return "" if resource.secret_named_explicitly else resource.spec.client_id or ""
    if not values.get(contract.CLIENT_SECRET_KEY):
        return ""
    return values.get(contract.CLIENT_ID_KEY) or resource.spec.client_id or ""


def claims(
    namespace: str,
    resources: Iterable[AuthPolicy | Credential],
    secrets: Mapping[str, Mapping[str, str]],
    served: Mapping[CrKey, str] | None = None,
) -> list[Claim]:
    """The claims of one namespace's CRs; ``served``: the client id each CR is served
    under now, by ``(kind, name)`` (the ``clientId`` of a Ready status)."""
    served = served or {}
    grouped: dict[tuple[str, str], list[AuthPolicy | Credential]] = {}
    for resource in resources:
        if not claimed_id(resource, secrets):
            continue
        unit = (
            ("Secret", resource.proxy_key_secret_name)
            if isinstance(resource, AuthPolicy)
            else ("Credential", resource.metadata.name)
        )
        grouped.setdefault(unit, []).append(resource)
    found = []
    for members in grouped.values():
        oldest = min(members, key=_age)
        client_id = claimed_id(oldest, secrets)
        keys = frozenset((m.kind, m.metadata.name) for m in members)
        found.append(
            ClientIdClaim(
                client_id=client_id,
                identity=(oldest.kind, namespace, oldest.metadata.name),
                created=oldest.metadata.creation_timestamp,
                client=CrClaim(keys, any(served.get(key) == client_id for key in keys)),
            )
        )
    return found


def holders(all_claims: Sequence[Claim]) -> dict[str, Claim | None]:
    """For each client id, the claim that holds it (None: contested, held by no one)."""
    served: dict[str, list[Identity]] = defaultdict(list)
    for claim in all_claims:
        if claim.client.served:
            served[claim.client_id].append(claim.identity)
    # Two claims served under one id (a race no pass settled): neither is the incumbent.
    incumbents = {cid: ids[0] for cid, ids in served.items() if len(ids) == 1}
    held, refused = award(all_claims, incumbents)
    return {claim.client_id: None for claim, _ in refused} | held


def refusal(
    held: Holders,
    resource: AuthPolicy | Credential,
    secrets: Mapping[str, Mapping[str, str]],
) -> str:
    """Why ``resource`` may not use its client id (another claim holds it, or the id is
    contested), or ""."""
    client_id = claimed_id(resource, secrets)
    if not client_id or client_id not in held:
        return ""
    holder = held[client_id]
    namespace = resource.metadata.namespace
    if holder is None:
        return (
            f"client id {client_id} is claimed by several clients, none older than the "
            "others: no one holds it until all but one are changed or removed"
        )
    _, holder_ns, holder_name = holder.identity
    if holder_ns == namespace and (resource.kind, resource.metadata.name) in holder.client.members:
        return ""
    if holder_ns == namespace:
        return f"client id {client_id} is held by {holder.identity[0]} {holder_name}"
    # The holder's namespace and name are another tenant's business: not in this status.
    return f"client id {client_id} is held by another client in another namespace"


def _age(resource: AuthPolicy | Credential) -> tuple[datetime, str]:
    return resource.metadata.creation_timestamp or _UNKNOWN, resource.metadata.name
