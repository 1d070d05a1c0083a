"""Store URLs (docs/operations.md): ``sqlite:///relative.db``, ``sqlite:////absolute.db``,
``redis://host:port/db``."""

from urllib.parse import urlsplit

from gatekey.issuer.store.ports import TokenStore
from gatekey.issuer.store.redis import RedisStore
from gatekey.issuer.store.sqlite import SQLiteStore


def open_store(url: str) -> TokenStore:
    """The store a URL names."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise ValueError("a sqlite store URL needs a path: sqlite:///file.db")
        return SQLiteStore(path)
    if parts.scheme in ("redis", "rediss"):
        return RedisStore(url)
    raise ValueError(
        f"unsupported store URL scheme {parts.scheme!r} (sqlite:///path, redis://host)"
    )
