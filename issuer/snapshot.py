"""The issuer's Snapshot: an immutable, indexed view of the rendered objects (pure).

Built only from the Secrets and ConfigMaps of the operator -> issuer contract
(``gatekey.operator.contract``), never from the CRs, so that the cluster watch
and the embedded mode feed it the same way. A malformed object is skipped and
reported in :attr:`Snapshot.errors`; it never poisons the rest.

The parts: :mod:`~gatekey.issuer.views` (the Snapshot and what it holds),
:mod:`~gatekey.issuer.snapshot_index` (objects -> Snapshot),
:mod:`~gatekey.issuer.parse_cache` (what one build hands the next),
:mod:`~gatekey.issuer.client_secret` and :mod:`~gatekey.issuer.htpasswd`. This module
is the way in: :func:`build_snapshot`, and the names the rest of the issuer imports.
"""

from collections.abc import Iterable

from gatekey.issuer.client_secret import ClientSecret, Generation
from gatekey.issuer.htpasswd import parse_htpasswd
from gatekey.issuer.parse_cache import ParseCache
from gatekey.issuer.snapshot_index import Indexer
from gatekey.issuer.views import (
    CredentialView,
    NamespacedKey,
    PolicyView,
    ProxyKeyClient,
    ResolvedClaim,
    Snapshot,
    UserPool,
)
from gatekey.operator.contract import Manifest
from gatekey.operator.model import TokenManagement

__all__ = [
    "ClientSecret",
    "CredentialView",
    "Generation",
    "NamespacedKey",
    "ParseCache",
    "PolicyView",
    "ProxyKeyClient",
    "ResolvedClaim",
    "Snapshot",
    "UserPool",
    "build_snapshot",
    "parse_htpasswd",
]


def build_snapshot(
    objects: Iterable[Manifest], defaults: TokenManagement, cache: ParseCache | None = None
) -> Snapshot:
    """Index the rendered objects; ``defaults`` are the issuer-wide Token Management Settings.

    Pass the same ``cache`` to successive builds to parse only what changed. Pure: the
    callers that own the process pause the garbage collector around it
    (:func:`~gatekey.issuer.config_source.build_paused`).
    """
    cache = cache or ParseCache()
    try:
        return Indexer(defaults, cache).build(objects)
    finally:
        cache.finish()
