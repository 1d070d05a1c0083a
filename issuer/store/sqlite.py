"""The embedded default store: one SQLite file in the state dir (WAL).

Statements run on the event loop thread: each is a few microseconds against a
local file with ``synchronous=NORMAL``, less than a hop to a worker thread.
Inserts are group-committed per loop iteration. There is no index on expiry:
purging scans the table every ten minutes, and each index costs every insert.
"""

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gatekey.issuer.store.base import Event, EventHandler, StoreUnavailable, TokenRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    chain_id TEXT NOT NULL,
    grant_key TEXT NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    username TEXT,
    scope TEXT NOT NULL,
    audience TEXT NOT NULL,
    token_type TEXT NOT NULL,
    management TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL,
    chain_started_at REAL NOT NULL,
    refresh_count INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0,
    namespace TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS failures (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS denied_jtis (
    jti TEXT PRIMARY KEY,
    until REAL
);
CREATE INDEX IF NOT EXISTS tokens_chain ON tokens (chain_id);
CREATE INDEX IF NOT EXISTS tokens_grant ON tokens (grant_key);
"""
_COLUMNS = (
    "digest, kind, chain_id, grant_key, client_id, subject, username, scope, audience,"
    " token_type, management, issued_at, expires_at, chain_started_at, refresh_count, used,"
    " revoked, namespace"
)
# Built from constants only; every value is a bound parameter.
_INSERT = f"INSERT INTO tokens ({_COLUMNS}) VALUES ({','.join('?' * 18)})"  # noqa: S608
_SELECT = f"SELECT {_COLUMNS} FROM tokens WHERE digest = ?"  # noqa: S608
_SEP = "\x1f"  # unit separator: never part of a scope token or an audience value


class SQLiteStore:
    """A :class:`~gatekey.issuer.store.base.TokenStore` on a SQLite file, for one process.

    Events reach this process's handlers directly: there is no other replica to tell
    (several workers need the Redis store).
    """

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._handlers: list[EventHandler] = []
        self._pending: list[tuple[list[tuple[object, ...]], asyncio.Future[None]]] = []
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(tokens)")}
        if "namespace" not in columns:  # a state dir from before namespaced tokens
            self._db.execute("ALTER TABLE tokens ADD COLUMN namespace TEXT NOT NULL DEFAULT ''")

    async def add(self, *records: TokenRecord) -> None:
        """Store ``records``. Calls made in one event-loop iteration share one transaction
        (group commit: a COMMIT costs more than the rows it writes); each caller still
        returns only once its rows are committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append(([_row(r) for r in records], done))
        if len(self._pending) == 1:
            loop.call_soon(self._commit_pending)
        await done

    def _commit_pending(self) -> None:
        batch, self._pending = self._pending, []
        try:
            with _available():
                try:
                    self._db.execute("BEGIN")
                    self._db.executemany(_INSERT, [row for rows, _ in batch for row in rows])
                    self._db.execute("COMMIT")
                except sqlite3.Error:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
        except StoreUnavailable as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(StoreUnavailable(*exc.args))
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)

    async def get(self, digest: str) -> TokenRecord | None:
        with _available():
            row = self._db.execute(_SELECT, (digest,)).fetchone()
        return None if row is None else _record(row)

    async def use_refresh(self, digest: str) -> bool:
        with _available():
            cur = self._db.execute(
                "UPDATE tokens SET used = 1 WHERE digest = ? AND kind = 'refresh'"
                " AND used = 0 AND revoked = 0",
                (digest,),
            )
        return cur.rowcount == 1

    async def revoke(self, digest: str) -> None:
        with _available():
            self._db.execute("UPDATE tokens SET revoked = 1 WHERE digest = ?", (digest,))

    async def deny_jti(self, jti: str, until: float | None) -> None:
        with _available():
            self._db.execute(
                "INSERT OR REPLACE INTO denied_jtis (jti, until) VALUES (?, ?)", (jti, until)
            )

    async def denied_jtis(self, now: float) -> dict[str, float | None]:
        with _available():
            rows = self._db.execute(
                "SELECT jti, until FROM denied_jtis WHERE until IS NULL OR until >= ?", (now,)
            ).fetchall()
        return {str(jti): None if until is None else float(until) for jti, until in rows}

    async def revoke_chain(self, chain_id: str) -> None:
        with _available():
            self._db.execute("UPDATE tokens SET revoked = 1 WHERE chain_id = ?", (chain_id,))

    async def revoke_grant(self, grant_key: str) -> None:
        with _available():
            self._db.execute("UPDATE tokens SET revoked = 1 WHERE grant_key = ?", (grant_key,))

    async def count_failure(self, key: str, window: float) -> int:
        now = self._clock()
        with _available():
            row = self._db.execute(
                "INSERT INTO failures (key, count, expires_at) VALUES (?, 1, ?)"
                " ON CONFLICT (key) DO UPDATE SET"
                " count = CASE WHEN expires_at < ? THEN 1 ELSE count + 1 END,"
                " expires_at = CASE WHEN expires_at < ? THEN excluded.expires_at"
                " ELSE expires_at END"
                " RETURNING count",
                (key, now + window, now, now),
            ).fetchone()
        return int(row[0])

    async def clear_failures(self, key: str) -> None:
        with _available():
            self._db.execute("DELETE FROM failures WHERE key = ?", (key,))

    async def publish(self, event: Event) -> None:
        for handler in self._handlers:
            handler(event)

    def subscribe(self, handler: EventHandler) -> None:
        self._handlers.append(handler)

    async def run(self) -> None:
        return None

    async def purge(self, now: float) -> int:
        with _available():
            cur = self._db.execute(
                "DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at < ?", (now,)
            )
            self._db.execute(
                "DELETE FROM denied_jtis WHERE until IS NOT NULL AND until < ?", (now,)
            )
            self._db.execute("DELETE FROM failures WHERE expires_at < ?", (now,))
        return cur.rowcount

    async def close(self) -> None:
        self._db.close()


@contextmanager
def _available() -> Iterator[None]:
    """Turn SQLite failures into :class:`StoreUnavailable` (503), never a false success."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreUnavailable(type(exc).__name__) from exc


def _row(r: TokenRecord) -> tuple[object, ...]:
    return (
        r.digest,
        r.kind,
        r.chain_id,
        r.grant_key,
        r.client_id,
        r.subject,
        r.username,
        _SEP.join(r.scope),
        _SEP.join(r.audience),
        r.token_type,
        r.management,
        r.issued_at,
        r.expires_at,
        r.chain_started_at,
        r.refresh_count,
        int(r.used),
        int(r.revoked),
        r.namespace,
    )


def _record(row: tuple[object, ...]) -> TokenRecord:
    (
        digest,
        kind,
        chain_id,
        grant_key,
        client_id,
        subject,
        username,
        scope,
        audience,
        token_type,
        management,
        issued_at,
        expires_at,
        chain_started_at,
        refresh_count,
        used,
        revoked,
        namespace,
    ) = row
    return TokenRecord(
        digest=str(digest),
        kind="refresh" if kind == "refresh" else "access",
        chain_id=str(chain_id),
        grant_key=str(grant_key),
        client_id=str(client_id),
        subject=str(subject),
        username=None if username is None else str(username),
        scope=tuple(filter(None, str(scope).split(_SEP))),
        audience=tuple(filter(None, str(audience).split(_SEP))),
        token_type=str(token_type),
        management=str(management),
        issued_at=float(issued_at),  # type: ignore[arg-type]
        expires_at=None if expires_at is None else float(expires_at),  # type: ignore[arg-type]
        chain_started_at=float(chain_started_at),  # type: ignore[arg-type]
        refresh_count=int(refresh_count),  # type: ignore[call-overload]
        used=bool(used),
        revoked=bool(revoked),
        namespace=str(namespace),
    )
