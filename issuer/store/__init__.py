"""Token stores: where opaque access tokens and refresh-token chains live, by hash only."""

from gatekey.issuer.store.base import StoreUnavailable, TokenRecord, TokenStore

__all__ = ["StoreUnavailable", "TokenRecord", "TokenStore"]
