"""The embedded default store: one SQLite file in the state dir (WAL).

Statements run on the event loop thread: each is a few microseconds against a
local file with ``synchronous=NORMAL``, less than a hop to a worker thread.
Inserts and rotations are group-committed per loop iteration. There is no index on
expiry: purging scans the table every ten minutes, and each index costs every insert.

Rotation and chain revocation cannot interleave: each runs as one transaction on the
loop thread, a rotation only succeeds while its refresh token is unused and unrevoked
and its chain has no tombstone, and revoking a chain revokes every token stored in it,
leaves a tombstone and moves the JWT ids minted in it to the deny list. A rotated
refresh token remembers what replaced it (``successors``, ``successor_jwts``, JSON) so
that a retry inside the grace period can replace that answer in one transaction.

Several processes may share the file (``gatekey serve --workers N``, or two ``gatekey
serve`` on one state dir, on one machine: WAL needs shared memory). Every write above is
one transaction under SQLite's single write lock, so they stay atomic across processes.
What each process keeps in memory (the deny list, the blocks) hears of the others'
changes through the ``events`` table: :meth:`SQLiteStore.publish` appends a row (and
tells this process at once), and :meth:`SQLiteStore.run` reads the rows appended since
its last look every ``poll_seconds`` (0.1 s). An event therefore reaches every process
within ``poll_seconds`` plus one event-loop turn. Rows are kept ``EVENT_SECONDS`` (60 s);
a process that fell further behind than that (a stopped process, a long pause) replays
the whole deny list and blocks from their tables instead of the rows it missed.
"""

import asyncio
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from gatekey.issuer.store.base import ChainJwt, StoreUnavailable, TokenRecord
from gatekey.issuer.store.events import Event, EventHandler, JtiDenied, KeyBlocked, decode, encode

_log = logging.getLogger("gatekey.store.sqlite")

POLL_SECONDS = 0.1
"""How often a process reads the events other processes appended: the bound on how
late a revocation or a block made in one process takes effect in another."""
EVENT_SECONDS = 60.0
"""How long an event row is kept: a process that looks less often replays everything."""
CACHE_KIB = 32 * 1024
"""SQLite's page cache per process (``PRAGMA cache_size``), filled only as pages are read."""
CHECKPOINT_PAGES = 8192
"""WAL pages between automatic checkpoints (``PRAGMA wal_autocheckpoint``; SQLite: 1,000)."""
WAL_LIMIT_BYTES = 64 * 1024 * 1024
"""The WAL file's size kept after a checkpoint (``PRAGMA journal_size_limit``)."""

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
    namespace TEXT NOT NULL DEFAULT '',
    used_at REAL,
    successors TEXT NOT NULL DEFAULT '',
    successor_jwts TEXT NOT NULL DEFAULT '',
    jkt TEXT NOT NULL DEFAULT ''
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
CREATE TABLE IF NOT EXISTS chain_jwts (
    chain_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    until REAL,
    PRIMARY KEY (chain_id, jti)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS revoked_chains (
    chain_id TEXT PRIMARY KEY,
    until REAL
);
CREATE TABLE IF NOT EXISTS remembered (
    key TEXT PRIMARY KEY,
    until REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (
    key TEXT PRIMARY KEY,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_chain ON tokens (chain_id);

CREATE INDEX IF NOT EXISTS tokens_grant ON tokens (grant_key);
"""
_COLUMNS = ", ".join(TokenRecord._fields)
"""A row is a record: the same values in the same order (see :func:`_row`)."""
# Built from constants only; every value is a bound parameter.
_MARKS = ",".join("?" * len(TokenRecord._fields))
_INSERT = f"INSERT INTO tokens ({_COLUMNS}) VALUES ({_MARKS})"  # noqa: S608
_SELECT = f"SELECT {_COLUMNS} FROM tokens WHERE digest = ?"  # noqa: S608
_SEP = "\x1f"
# Columns added after the first release, added to an older state dir when opened.
_ADDED_COLUMNS = {
    "namespace": "TEXT NOT NULL DEFAULT ''",
    "used_at": "REAL",
    "successors": "TEXT NOT NULL DEFAULT ''",
    "successor_jwts": "TEXT NOT NULL DEFAULT ''",
    "jkt": "TEXT NOT NULL DEFAULT ''",
}  # unit separator: never part of a scope token or an audience value
# One B-tree keyed by chain: written with every JWT of a refresh chain, read only to
# revoke the chain.
_INSERT_JWT = "INSERT OR REPLACE INTO chain_jwts (jti, chain_id, until) VALUES (?, ?, ?)"
# Marks the old refresh token used (when, and what replaced it) unless it was used,
# revoked, or its chain tombstoned.
_USE = (
    "UPDATE tokens SET used = 1, used_at = ?, successors = ?, successor_jwts = ?"
    " WHERE digest = ? AND kind = 'refresh' AND used = 0"
    " AND revoked = 0 AND NOT EXISTS"
    " (SELECT 1 FROM revoked_chains r WHERE r.chain_id = tokens.chain_id)"
)


class _Write(NamedTuple):
    """One caller's share of a group commit: rows, and the refresh token it rotates."""

    rotates: tuple[object, ...] | None
    """The parameters of ``_USE`` when this write rotates a refresh token."""
    rows: list[tuple[object, ...]]
    jwts: list[tuple[object, ...]]
    done: "asyncio.Future[bool]"


class SQLiteStore:
    """A :class:`~gatekey.issuer.store.ports.TokenStore` on a SQLite file, shared by the
    processes of one machine."""

    def __init__(
        self,
        path: str | Path,
        clock: Callable[[], float] = time.time,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._handlers: list[EventHandler] = []
        self._pending: list[_Write] = []
        self._origin = secrets.token_hex(8)
        """This store's name on the events it appends: it skips them when reading back."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        # The wait first: other processes may be opening the same file at this moment.
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # The digest index takes each token on a random page: past SQLite's default 2 MiB
        # page cache (about 25,000 tokens) most inserts read a page back from the file.
        # 32 MiB keeps the index of about 400,000 tokens; pages are taken as used.
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        # A checkpoint copies the WAL into the database and syncs it, on the event loop:
        # every 8,192 pages (32 MiB of WAL) rather than SQLite's 1,000, an eighth of the
        # syncs; the file is cut back to 64 MiB at most after each.
        self._db.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
        self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(tokens)")}
        for column, kind in _ADDED_COLUMNS.items():  # a state dir from an earlier version
            if column not in columns:
                self._db.execute(f"ALTER TABLE tokens ADD COLUMN {column} {kind}")
        # Events appended before this store opened are already in the tables it loads from.
        (self._seen,) = self._db.execute(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"
        ).fetchone()

    async def add(self, *records: TokenRecord, jwts: Sequence[ChainJwt] = ()) -> None:
        """Store ``records``. Calls made in one event-loop iteration share one transaction
        (group commit: a COMMIT costs more than the rows it writes); each caller still
        returns only once its rows are committed."""
        await self._enqueue(None, records, jwts)

    async def rotate(
        self,
        digest: str,
        *records: TokenRecord,
        jwts: Sequence[ChainJwt] = (),
        now: float | None = None,
    ) -> bool:
        at = self._clock() if now is None else now
        successors = json.dumps([r.digest for r in records])
        return await self._enqueue((at, successors, _jwt_list(jwts), digest), records, jwts)

    async def replace_rotation(
        self,
        digest: str,
        *records: TokenRecord,
        jwts: Sequence[ChainJwt],
        now: float,
        grace: float,
    ) -> dict[str, float | None] | None:
        db = self._db
        with _AVAILABLE:
            try:
                db.execute("BEGIN IMMEDIATE")
                denied = self._replace(digest, records, jwts, now, grace)
                db.execute("COMMIT")
            except sqlite3.Error:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return denied

    def _replace(
        self,
        digest: str,
        records: Sequence[TokenRecord],
        jwts: Sequence[ChainJwt],
        now: float,
        grace: float,
    ) -> dict[str, float | None] | None:
        """The body of :meth:`replace_rotation`, inside its transaction."""
        db = self._db
        row = db.execute(
            "SELECT kind, used, revoked, used_at, successors, successor_jwts,"
            " EXISTS (SELECT 1 FROM revoked_chains r WHERE r.chain_id = tokens.chain_id)"
            " FROM tokens WHERE digest = ?",
            (digest,),
        ).fetchone()
        if row is None:
            return None
        kind, used, revoked, used_at, successors, successor_jwts, tombstoned = row
        if (
            kind != "refresh"
            or not used
            or revoked
            or tombstoned
            or used_at is None  # a replaced successor: presenting it is a reuse
            or now >= float(used_at) + grace
            or not successors  # rotated before successors were remembered
        ):
            return None
        old: list[str] = json.loads(successors)
        marks = ",".join("?" * len(old))
        # Built from constants and placeholders only.
        states = db.execute(
            f"SELECT kind, used, revoked FROM tokens WHERE digest IN ({marks})",  # noqa: S608
            old,
        ).fetchall()
        if any(k == "refresh" and (u or r) for k, u, r in states):
            return None  # the answer was used (or revoked): a reuse, not a retry
        db.execute(
            f"UPDATE tokens SET used = 1 WHERE kind = 'refresh' AND digest IN ({marks})",  # noqa: S608
            old,
        )
        db.execute(
            f"UPDATE tokens SET revoked = 1 WHERE kind = 'access' AND digest IN ({marks})",  # noqa: S608
            old,
        )
        denied = {str(j): None if u is None else float(u) for j, u in json.loads(successor_jwts)}
        db.executemany(
            "INSERT OR REPLACE INTO denied_jtis (jti, until) VALUES (?, ?)", denied.items()
        )
        db.execute(
            "UPDATE tokens SET successors = ?, successor_jwts = ? WHERE digest = ?",
            (json.dumps([r.digest for r in records]), _jwt_list(jwts), digest),
        )
        db.executemany(_INSERT, [_row(r) for r in records])
        db.executemany(_INSERT_JWT, [(j.jti, j.chain_id, j.expires_at) for j in jwts])
        return denied

    def _enqueue(
        self,
        rotates: tuple[object, ...] | None,
        records: Sequence[TokenRecord],
        jwts: Sequence[ChainJwt],
    ) -> "asyncio.Future[bool]":
        """Join the group commit of this loop iteration (the first write schedules it);
        the future says, once committed, whether the write was applied."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        if not self._pending:
            loop.call_soon(self._commit_pending)
        self._pending.append(
            _Write(
                rotates,
                [_row(r) for r in records],
                [(j.jti, j.chain_id, j.expires_at) for j in jwts],
                done,
            )
        )
        return done

    def _commit_pending(self) -> None:
        batch, self._pending = self._pending, []
        outcomes: list[bool] = []
        try:
            with _AVAILABLE:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    rows: list[tuple[object, ...]] = []
                    jwts: list[tuple[object, ...]] = []
                    for rotates, write_rows, write_jwts, _ in batch:
                        # A rotation writes its successors only if it marked the old token.
                        # (No write of a batch can depend on another: a token is handed
                        # out only once the batch that stored it has committed.)
                        ok = rotates is None or self._db.execute(_USE, rotates).rowcount == 1
                        if ok:
                            rows += write_rows
                            jwts += write_jwts
                        outcomes.append(ok)
                    self._db.executemany(_INSERT, rows)
                    if jwts:
                        self._db.executemany(_INSERT_JWT, jwts)
                    self._db.execute("COMMIT")
                except sqlite3.Error:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
        except StoreUnavailable as exc:
            for write in batch:
                if not write.done.done():
                    write.done.set_exception(StoreUnavailable(*exc.args))
            return
        for write, ok in zip(batch, outcomes, strict=True):
            if not write.done.done():
                write.done.set_result(ok)

    async def get(self, digest: str) -> TokenRecord | None:
        with _AVAILABLE:
            row = self._db.execute(_SELECT, (digest,)).fetchone()
        return None if row is None else _record(row)

    async def revoke(self, digest: str) -> None:
        with _AVAILABLE:
            self._db.execute("UPDATE tokens SET revoked = 1 WHERE digest = ?", (digest,))

    async def deny_jti(self, jti: str, until: float | None) -> None:
        with _AVAILABLE:
            self._db.execute(
                "INSERT OR REPLACE INTO denied_jtis (jti, until) VALUES (?, ?)", (jti, until)
            )

    async def denied_jtis(self, now: float) -> dict[str, float | None]:
        with _AVAILABLE:
            rows = self._db.execute(
                "SELECT jti, until FROM denied_jtis WHERE until IS NULL OR until >= ?", (now,)
            ).fetchall()
        return {str(jti): None if until is None else float(until) for jti, until in rows}

    async def revoke_chain(self, chain_id: str) -> dict[str, float | None]:
        db = self._db
        with _AVAILABLE:
            try:
                db.execute("BEGIN IMMEDIATE")
                # The tombstone lasts as long as anything of the chain could still be used.
                longest, immortal, count = db.execute(
                    "SELECT MAX(expires_at), SUM(expires_at IS NULL), COUNT(*) FROM tokens"
                    " WHERE chain_id = ?",
                    (chain_id,),
                ).fetchone()
                if count:
                    db.execute(
                        "INSERT OR REPLACE INTO revoked_chains (chain_id, until) VALUES (?, ?)",
                        (chain_id, None if immortal else longest),
                    )
                db.execute("UPDATE tokens SET revoked = 1 WHERE chain_id = ?", (chain_id,))
                jwts = db.execute(
                    "DELETE FROM chain_jwts WHERE chain_id = ? RETURNING jti, until", (chain_id,)
                ).fetchall()
                db.executemany(
                    "INSERT OR REPLACE INTO denied_jtis (jti, until) VALUES (?, ?)", jwts
                )
                db.execute("COMMIT")
            except sqlite3.Error:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return {str(jti): None if until is None else float(until) for jti, until in jwts}

    async def revoke_grant(self, grant_key: str) -> None:
        with _AVAILABLE:
            self._db.execute("UPDATE tokens SET revoked = 1 WHERE grant_key = ?", (grant_key,))

    async def remember_once(self, key: str, until: float) -> bool:
        with _AVAILABLE:
            # A row past its time is taken over, as if purged.
            cur = self._db.execute(
                "INSERT INTO remembered (key, until) VALUES (?, ?) ON CONFLICT (key)"
                " DO UPDATE SET until = excluded.until WHERE remembered.until <= ?",
                (key, until, self._clock()),
            )
        return cur.rowcount == 1

    async def count_failure(self, key: str, window: float) -> int:
        now = self._clock()
        with _AVAILABLE:
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
        with _AVAILABLE:
            self._db.execute("DELETE FROM failures WHERE key = ?", (key,))

    async def block(self, key: str, until: float) -> None:
        with _AVAILABLE:
            self._db.execute(
                "INSERT INTO blocks (key, until) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET until = MAX(until, excluded.until)",
                (key, until),
            )

    async def blocks(self, now: float) -> dict[str, float]:
        with _AVAILABLE:
            rows = self._db.execute("SELECT key, until FROM blocks WHERE until > ?", (now,))
            return {str(key): float(until) for key, until in rows.fetchall()}

    async def publish(self, event: Event) -> None:
        # Here at once (even if the row cannot be written), in the other processes when
        # they next read the table.
        self._dispatch(event)
        with _AVAILABLE:
            self._db.execute(
                "INSERT INTO events (origin, at, body) VALUES (?, ?, ?)",
                (self._origin, self._clock(), encode(event)),
            )

    def subscribe(self, handler: EventHandler) -> None:
        self._handlers.append(handler)

    async def run(self) -> None:
        """Read the other processes' events every ``poll_seconds`` until cancelled."""
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                self.poll()
            except sqlite3.Error as exc:  # a locked or damaged file: try again next turn
                _log.warning("events unreadable (%s); retrying", type(exc).__name__)

    def poll(self) -> int:
        """Hear the events appended by other processes since the last look; how many."""
        rows = self._db.execute(
            "SELECT id, origin, body FROM events WHERE id > ? ORDER BY id", (self._seen,)
        ).fetchall()
        if rows and rows[0][0] > self._seen + 1:
            # Ids are consecutive (AUTOINCREMENT, one autocommit insert each): a gap means
            # rows were purged before this process read them.
            self._replay()
        heard = 0
        for row_id, origin, body in rows:
            self._seen = row_id
            event = decode(body)
            if origin != self._origin and event is not None:
                self._dispatch(event)
                heard += 1
        return heard

    def _replay(self) -> None:
        """Fell behind the purge: hear the whole deny list and every block again."""
        now = self._clock()
        _log.warning("events missed (this process fell behind); replaying the deny list")
        for jti, until in self._db.execute(
            "SELECT jti, until FROM denied_jtis WHERE until IS NULL OR until >= ?", (now,)
        ).fetchall():
            self._dispatch(JtiDenied(str(jti), None if until is None else float(until)))
        for key, until in self._db.execute(
            "SELECT key, until FROM blocks WHERE until > ?", (now,)
        ).fetchall():
            self._dispatch(KeyBlocked(str(key), float(until)))

    def _dispatch(self, event: Event) -> None:
        for handler in self._handlers:
            handler(event)

    async def purge(self, now: float) -> int:
        with _AVAILABLE:
            cur = self._db.execute(
                "DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at < ?", (now,)
            )
            self._db.execute(
                "DELETE FROM denied_jtis WHERE until IS NOT NULL AND until < ?", (now,)
            )
            self._db.execute("DELETE FROM failures WHERE expires_at < ?", (now,))
            self._db.execute("DELETE FROM blocks WHERE until < ?", (now,))
            self._db.execute("DELETE FROM remembered WHERE until <= ?", (now,))
            self._db.execute("DELETE FROM chain_jwts WHERE until IS NOT NULL AND until < ?", (now,))
            self._db.execute(
                "DELETE FROM revoked_chains WHERE until IS NOT NULL AND until < ?", (now,)
            )
            self._db.execute("DELETE FROM events WHERE at < ?", (now - EVENT_SECONDS,))
        return cur.rowcount

    async def close(self) -> None:
        self._db.close()


class _Available:
    """Turns SQLite failures into :class:`StoreUnavailable` (503), never a false success.
    A class, not ``@contextmanager``: it frames every write batch, and a generator-based
    one costs a generator and three calls per use."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if isinstance(exc, sqlite3.Error):
            raise StoreUnavailable(type(exc).__name__) from exc


_AVAILABLE = _Available()
"""Shared: it keeps no state."""


def _jwt_list(jwts: Sequence[ChainJwt]) -> str:
    """The JWTs of a rotation's answer, as a rotated token remembers them."""
    return json.dumps([[j.jti, j.expires_at] for j in jwts])


def _row(r: TokenRecord) -> tuple[object, ...]:
    # scope and audience joined; the bools go in as they are (sqlite3 stores them as 0/1).
    return (*r[:7], _SEP.join(r.scope), _SEP.join(r.audience), *r[9:])


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
        used_at,
        jkt,
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
        token_type="JWT" if token_type == "JWT" else "OAuth2",
        management="ACL" if management == "ACL" else "Policy",
        issued_at=float(issued_at),  # type: ignore[arg-type]
        expires_at=None if expires_at is None else float(expires_at),  # type: ignore[arg-type]
        chain_started_at=float(chain_started_at),  # type: ignore[arg-type]
        refresh_count=int(refresh_count),  # type: ignore[call-overload]
        used=bool(used),
        revoked=bool(revoked),
        namespace=str(namespace),
        used_at=None if used_at is None else float(used_at),  # type: ignore[arg-type]
        jkt=str(jkt),
    )
