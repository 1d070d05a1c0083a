"""Who holds each client id, across every namespace the operator reconciles (pure).

Client ids are global: the issuer finds a client by its id alone. A clash never
changes who holds an id (tenancy): the holder is the claim already served under
that id (its CR's status shows the id; only the operator writes status), and
among claims none of which is served yet, the one whose oldest CR has the oldest
``creationTimestamp`` (set by the API server, so no one can backdate it; ties by
namespace, then name). Every other claimant is refused (``ClientIdConflict``) and
its objects are not written.

Age alone would not do: a tenant with an old CR could point it at the client id
of a newer one (it is in every token) and, being older, take it over.

A claim is what the issuer would serve: the proxy key of Policy-mode AuthPolicies
(one claim per proxy-key Secret: the JWT and OAuth2 policies of one target share
it), or a Credential. A client id that Gatekey would still generate at random
claims nothing (no one can know it in advance).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from gatekey.operator import contract
from gatekey.operator.model import AuthPolicy, Credential

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CrKey = tuple[str, str]
"""``(kind, name)`` of a CR in its namespace."""


@dataclass(frozen=True)
class Claim:
    """One would-be client of ``client_id`` in ``namespace``."""

    client_id: str
    namespace: str
    kind: str
    """The kind of the oldest CR of the claim (AuthPolicy or Credential)."""
    name: str
    """The name of the oldest CR of the claim."""
    created: datetime
    members: frozenset[CrKey]
    """Every CR claiming through it (the policies sharing a proxy key)."""
    served: bool = False
    """One of its CRs is served under this client id now (its status says so)."""

    @property
    def rank(self) -> tuple[bool, datetime, str, str, str]:
        """Lower holds: the one served, then older first, then namespace/name order."""
        return not self.served, self.created, self.namespace, self.name, self.kind

    def includes(self, namespace: str, key: CrKey) -> bool:
        return namespace == self.namespace and key in self.members

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


Holders = Mapping[str, Claim]
"""Client id -> the claim that holds it."""


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
        client_id = claimed_id(resource, secrets)
        if not client_id:
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
            Claim(
                client_id=client_id,
                namespace=namespace,
                kind=oldest.kind,
                name=oldest.metadata.name,
                created=_age(oldest)[0],
                members=keys,
                served=any(served.get(key) == client_id for key in keys),
            )
        )
    return found


def holders(all_claims: Iterable[Claim]) -> dict[str, Claim]:
    """For each client id, the claim that holds it."""
    held: dict[str, Claim] = {}
    for claim in all_claims:
        current = held.get(claim.client_id)
        if current is None or claim.rank < current.rank:
            held[claim.client_id] = claim
    return held


def refusal(
    held: Holders,
    resource: AuthPolicy | Credential,
    secrets: Mapping[str, Mapping[str, str]],
) -> str:
    """Why ``resource`` may not use its client id (another claim holds it), or ""."""
    client_id = claimed_id(resource, secrets)
    holder = held.get(client_id) if client_id else None
    namespace = resource.metadata.namespace
    if holder is None or holder.includes(namespace, (resource.kind, resource.metadata.name)):
        return ""
    if holder.namespace == namespace:
        return f"client id {client_id} is held by {holder.kind} {holder.name}"
    # The holder's namespace and name are another tenant's business: not in this status.
    return f"client id {client_id} is held by another client in another namespace"


def _age(resource: AuthPolicy | Credential) -> tuple[datetime, str]:
    return resource.metadata.creation_timestamp or EPOCH, resource.metadata.name
