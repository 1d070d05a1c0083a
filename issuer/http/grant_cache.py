"""Client credentials grants remembered: a service that asks for its token the same way
again costs a look-up instead of client authentication and the grant.

A service fetches its tokens with the very same request each time: the same Basic
credentials, the same form. The first one goes the whole way (client authentication,
RFC 6749 §2.3.1; the grant, §4.4). Once tokens were issued for it, :class:`GrantCache`
keeps the grant decided under a digest of that request, and gives it back while none of
what the decision depends on changed:

- the request: the endpoint (a cache each), the ``Authorization`` header and the form
  body, byte for byte. The key is their SHA-256 digest: no client secret is kept, and
  only the exact request that authenticated finds its grant again;
- the snapshot (policies, clients, secrets, roles): any new one empties the table;
- time: a grant holds until the first instant at which the client's time-dependent
  checks may answer otherwise (its Credential's or an ACL entry's ``expiresAt``).

Only a decision those alone make is kept: the ``client_credentials`` grant, over POST,
with the client's current secret (the previous one holds only for a while after a
rotation), without a DPoP proof (fresh on every request) or a client assertion (spent
once). Everything after the decision runs on every request alike: the throttle's blocks,
the signing key in force, minting and storing the tokens, the audit line. A refusal is
never remembered, so every failed attempt takes the whole check and counts.
"""

import hashlib
import math
from typing import NamedTuple

from gatekey.issuer.domain import Grant
from gatekey.issuer.grants.rules import GrantRules
from gatekey.issuer.snapshot import Snapshot
from gatekey.issuer.snapshot_memo import SnapshotMemo
from gatekey.issuer.tokens.mint import Prepared

CACHE_SIZE = 4096
"""Requests remembered per endpoint; the oldest goes first. Only requests that were
granted get in: a client can fill the table only with requests it authenticates."""

_SHA256 = hashlib.sha256()
"""Copied for each key: cheaper than looking the algorithm up again (OpenSSL 3's fetch)."""


class Remembered(NamedTuple):
    """A grant decided for one request, what its tokens share, and until when it holds."""

    grant: Grant
    prepared: Prepared
    scope: str
    """The granted scope as the audit line writes it."""
    until: float
    """POSIX seconds: from then on, the client's time-dependent checks may answer otherwise."""


def request_key(authorization: str | None, body: bytes) -> bytes:
    """The digest a request is remembered under. A header value never holds a line feed
    (RFC 9110 §5.5), so the two parts cannot be read another way; what the client sent
    is hashed as it came (``surrogateescape`` gives back bytes that were not UTF-8)."""
    digest = _SHA256.copy()
    if authorization is not None:
        digest.update(authorization.encode("utf-8", "surrogateescape"))
    digest.update(b"\n")
    digest.update(body)
    return digest.digest()


class GrantCache(SnapshotMemo[bytes, Remembered]):
    """Remembered grants of one endpoint, for one snapshot at a time."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        super().__init__(size)

    def remember(
        self,
        key: bytes,
        grant: Grant,
        prepared: Prepared,
        rules: GrantRules,
        now: float,
        snapshot: Snapshot,
    ) -> None:
        """Keep ``grant`` (with what its tokens share), decided under ``snapshot`` by
        ``rules``, if the request alone decides it (see the module)."""
        client = grant.client
        if not rules.decided_by_request or client.secret != "current" or grant.jkt:
            return
        credential = client.credential
        until = math.inf if credential is None else credential.changes_after(now)
        self.put(key, Remembered(grant, prepared, " ".join(grant.scope), until), snapshot)
