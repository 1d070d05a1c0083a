"""The Redis store: several issuer replicas share tokens, chains, revocations and counters.

Every token is a hash under ``gk:t:<digest>`` that expires with the token, so
nothing outlives what it describes. Chains and grants are sets of digests; the JWT
ids minted in a chain are a hash ``gk:cj:<chain>`` (jti -> exp). Storing, rotation
and revocation run as Lua scripts, so they never interleave: two replicas racing on
one refresh token cannot both win, and a chain revoked by a reuse takes with it the
tokens its winner just received (a rotation fails once ``gk:cr:<chain>``, the
chain's tombstone, exists or its token is used or revoked). Blocks of the throttle
are keys ``gk:block:<key>`` expiring with the block. Events (a denied ``jti``, a
blocked key) travel on a pub/sub channel that every replica listens to. A rotated
refresh token remembers what replaced it (fields ``successors``, ``successor_jwts``,
JSON) so that a retry inside the grace period can replace that answer in one script.
"""

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gatekey.issuer.store.base import ChainJwt, StoreUnavailable, TokenRecord
from gatekey.issuer.store.events import Event, EventHandler, decode, encode

_log = logging.getLogger("gatekey.store.redis")
T = TypeVar("T")

PREFIX = "gk:"
CHANNEL = PREFIX + "events"
_SEP = "\x1f"
RECONNECT_SECONDS = 0.5

# Stores tokens and chain JWT ids. ARGV[1] = key prefix; ARGV[2] = JSON list of
# records {d: digest, c: chain, g: grant, f: [field, value, ...], x: expire-at, absent
# when immortal}; ARGV[3] = JSON list of JWTs {j: jti, c: chain, u: exp, x: expire-at,
# u and x absent when immortal}. A set or hash is kept while its longest-lived member
# lives, for ever with an immortal member. (EXPIREAT GT treats a key without expiry
# as immortal, so a new key gets a plain EXPIREAT.)
_STORE = """
local function keep(key, existed, at)
  if at == nil then redis.call('PERSIST', key)
  elseif existed == 0 then redis.call('EXPIREAT', key, at)
  else redis.call('EXPIREAT', key, at, 'GT') end
end
local function store(prefix, records, jwts)
  for _, r in ipairs(records) do
    local key = prefix .. 't:' .. r.d
    redis.call('HSET', key, unpack(r.f))
    if r.x ~= nil then redis.call('EXPIREAT', key, r.x) end
    for _, set in ipairs({prefix .. 'chain:' .. r.c, prefix .. 'grant:' .. r.g}) do
      local existed = redis.call('EXISTS', set)
      redis.call('SADD', set, r.d)
      keep(set, existed, r.x)
    end
  end
  for _, j in ipairs(jwts) do
    local key = prefix .. 'cj:' .. j.c
    local existed = redis.call('EXISTS', key)
    redis.call('HSET', key, j.j, j.u or '')
    keep(key, existed, j.x)
  end
end
"""

_ADD = (
    _STORE
    + """
store(ARGV[1], cjson.decode(ARGV[2]), cjson.decode(ARGV[3]))
return 1
"""
)

# KEYS[1] = the refresh token hash to rotate; ARGV[4] = now, ARGV[5] = JSON list of the
# successors' digests, ARGV[6] = JSON list of their JWTs [jti, exp or ""]. Marks it used
# (when, and by what replaced) and stores its successors, or writes nothing and returns
# 0 (used, revoked, gone, or its chain has a tombstone).
_ROTATE = (
    _STORE
    + """
local state = redis.call('HMGET', KEYS[1], 'kind', 'used', 'revoked', 'chain_id')
if state[1] ~= 'refresh' or state[2] ~= '0' or state[3] ~= '0' then return 0 end
if redis.call('EXISTS', ARGV[1] .. 'cr:' .. state[4]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'used', '1', 'used_at', ARGV[4], 'successors', ARGV[5],
  'successor_jwts', ARGV[6])
store(ARGV[1], cjson.decode(ARGV[2]), cjson.decode(ARGV[3]))
return 1
"""
)

# The grace period. KEYS[1] = the refresh token hash; ARGV as for _ROTATE plus ARGV[7] =
# grace seconds. Replaces the answer of its rotation: the old successors are killed
# (refresh: used without used_at, so presenting it is a reuse; access: revoked; JWTs
# denied), the new ones stored and remembered. Returns {'ok', jti, exp, ...} (the JWTs
# denied), or false with nothing written.
_REPLACE = (
    _STORE
    + """
local state = redis.call('HMGET', KEYS[1], 'kind', 'used', 'revoked', 'chain_id', 'used_at',
  'successors', 'successor_jwts')
if state[1] ~= 'refresh' or state[2] ~= '1' or state[3] ~= '0' then return false end
if not state[5] or state[5] == '' or not state[6] then return false end
if tonumber(ARGV[4]) >= tonumber(state[5]) + tonumber(ARGV[7]) then return false end
if redis.call('EXISTS', ARGV[1] .. 'cr:' .. state[4]) == 1 then return false end
local old = cjson.decode(state[6])
for _, d in ipairs(old) do
  local s = redis.call('HMGET', ARGV[1] .. 't:' .. d, 'kind', 'used', 'revoked')
  if s[1] == 'refresh' and (s[2] ~= '0' or s[3] ~= '0') then return false end
end
for _, d in ipairs(old) do
  local key = ARGV[1] .. 't:' .. d
  local kind = redis.call('HGET', key, 'kind')
  if kind == 'refresh' then redis.call('HSET', key, 'used', '1')
  elseif kind then redis.call('HSET', key, 'revoked', '1') end
end
local denied = {'ok'}
for _, j in ipairs(cjson.decode(state[7] or '[]')) do
  local deny = ARGV[1] .. 'deny:' .. j[1]
  if j[2] == '' then redis.call('SET', deny, 'forever')
  else redis.call('SET', deny, j[2], 'EXAT', math.floor(tonumber(j[2])) + 1) end
  table.insert(denied, j[1])
  table.insert(denied, j[2])
end
redis.call('HSET', KEYS[1], 'successors', ARGV[5], 'successor_jwts', ARGV[6])
store(ARGV[1], cjson.decode(ARGV[2]), cjson.decode(ARGV[3]))
return denied
"""
)

# KEYS[1] = chain set, KEYS[2] = its tombstone, KEYS[3] = its JWT ids; ARGV[1] = prefix.
# Revokes every token of the chain, leaves the tombstone for as long as the chain set
# would have lived, denies the chain's JWT ids; returns them as [jti, exp, ...].
_REVOKE_CHAIN = """
local members = redis.call('SMEMBERS', KEYS[1])
for _, digest in ipairs(members) do
  local key = ARGV[1] .. 't:' .. digest
  if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'revoked', '1') end
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 then redis.call('SET', KEYS[2], '1')
elseif ttl > 0 then redis.call('SET', KEYS[2], '1', 'PX', ttl) end
local jwts = redis.call('HGETALL', KEYS[3])
for i = 1, #jwts, 2 do
  local deny = ARGV[1] .. 'deny:' .. jwts[i]
  if jwts[i + 1] == '' then redis.call('SET', deny, 'forever')
  else redis.call('SET', deny, jwts[i + 1], 'EXAT', math.floor(tonumber(jwts[i + 1])) + 1) end
end
redis.call('DEL', KEYS[3])
return jwts
"""

# KEYS[1] = a set of digests (chain or grant). Revokes every token still stored.
_REVOKE_SET = """
local members = redis.call('SMEMBERS', KEYS[1])
for _, digest in ipairs(members) do
  local key = ARGV[1] .. digest
  if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'revoked', '1') end
end
return #members
"""

# KEYS[1] = token hash. Revokes it if it exists (never creates a stray hash).
_REVOKE_ONE = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'revoked', '1') end
return 1
"""

# KEYS[1] = failure counter; ARGV[1] = window in ms. The count within the window.
_COUNT_FAILURE = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class RedisStore:
    """A :class:`~gatekey.issuer.store.ports.TokenStore` on Redis (``redis://host:port/db``)."""

    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=2,
            socket_connect_timeout=2,
            decode_responses=True,
            health_check_interval=10,
        )
        self._handlers: list[EventHandler] = []
        self._add = self._redis.register_script(_ADD)
        self._rotate = self._redis.register_script(_ROTATE)
        self._replace = self._redis.register_script(_REPLACE)
        self._revoke_chain = self._redis.register_script(_REVOKE_CHAIN)
        self._revoke_set = self._redis.register_script(_REVOKE_SET)
        self._revoke_one = self._redis.register_script(_REVOKE_ONE)
        self._count_failure = self._redis.register_script(_COUNT_FAILURE)

    async def add(self, *records: TokenRecord, jwts: Sequence[ChainJwt] = ()) -> None:
        await _available(lambda: self._add(args=[PREFIX, *_payload(records, jwts)]))

    async def rotate(
        self,
        digest: str,
        *records: TokenRecord,
        jwts: Sequence[ChainJwt] = (),
        now: float | None = None,
    ) -> bool:
        keys = [_token_key(digest)]
        at = time.time() if now is None else now
        args = [PREFIX, *_payload(records, jwts), repr(at), *_answer(records, jwts)]
        done = await _available(lambda: self._rotate(keys=keys, args=args))
        return bool(done)

    async def replace_rotation(
        self,
        digest: str,
        *records: TokenRecord,
        jwts: Sequence[ChainJwt],
        now: float,
        grace: float,
    ) -> dict[str, float | None] | None:
        keys = [_token_key(digest)]
        args = [PREFIX, *_payload(records, jwts), repr(now), *_answer(records, jwts), repr(grace)]
        done = await _available(lambda: self._replace(keys=keys, args=args))
        if not done:
            return None
        pairs = cast(list[str], done)[1:]
        return {
            jti: float(until) if until else None
            for jti, until in zip(pairs[::2], pairs[1::2], strict=True)
        }

    async def get(self, digest: str) -> TokenRecord | None:
        fields = await _available(lambda: self._redis.hgetall(_token_key(digest)))
        # decode_responses=True: keys and values are str.
        return _record(digest, cast(dict[str, str], fields)) if fields else None

    async def revoke(self, digest: str) -> None:
        await _available(lambda: self._revoke_one(keys=[_token_key(digest)]))

    async def revoke_chain(self, chain_id: str) -> dict[str, float | None]:
        keys = [_chain_key(chain_id), _tombstone_key(chain_id), PREFIX + "cj:" + chain_id]
        flat = await _available(lambda: self._revoke_chain(keys=keys, args=[PREFIX]))
        pairs = cast(list[str], flat)
        return {
            jti: float(until) if until else None
            for jti, until in zip(pairs[::2], pairs[1::2], strict=True)
        }

    async def revoke_grant(self, grant_key: str) -> None:
        await _available(
            lambda: self._revoke_set(keys=[_grant_key(grant_key)], args=[PREFIX + "t:"])
        )

    async def deny_jti(self, jti: str, until: float | None) -> None:
        key = PREFIX + "deny:" + jti
        if until is None:
            await _available(lambda: self._redis.set(key, "forever"))
        else:
            await _available(lambda: self._redis.set(key, str(until), exat=int(until) + 1))

    async def denied_jtis(self, now: float) -> dict[str, float | None]:
        async def scan() -> dict[str, float | None]:
            found: dict[str, float | None] = {}
            async for key in self._redis.scan_iter(match=PREFIX + "deny:*", count=1000):
                value = await self._redis.get(key)
                if value is not None:
                    found[key.removeprefix(PREFIX + "deny:")] = (
                        None if value == "forever" else float(value)
                    )
            return found

        return await _available(scan)

    async def remember_once(self, key: str, until: float) -> bool:
        name = PREFIX + "once:" + key
        # SET NX is atomic; a key already there (not yet expired) is a replay.
        done = await _available(lambda: self._redis.set(name, "1", nx=True, exat=int(until) + 1))
        return bool(done)

    async def count_failure(self, key: str, window: float) -> int:
        count = await _available(
            lambda: self._count_failure(keys=[PREFIX + "fail:" + key], args=[int(window * 1000)])
        )
        return int(count)

    async def clear_failures(self, key: str) -> None:
        await _available(lambda: self._redis.delete(PREFIX + "fail:" + key))

    async def block(self, key: str, until: float) -> None:
        name = PREFIX + "block:" + key
        await _available(lambda: self._redis.set(name, repr(until), exat=int(until) + 1))

    async def blocks(self, now: float) -> dict[str, float]:
        async def scan() -> dict[str, float]:
            found: dict[str, float] = {}
            async for name in self._redis.scan_iter(match=PREFIX + "block:*", count=1000):
                value = await self._redis.get(name)
                if value is not None and float(value) > now:
                    found[name.removeprefix(PREFIX + "block:")] = float(value)
            return found

        return await _available(scan)

    async def publish(self, event: Event) -> None:
        await _available(lambda: self._redis.publish(CHANNEL, encode(event)))

    def subscribe(self, handler: EventHandler) -> None:
        self._handlers.append(handler)

    async def run(self) -> None:
        """Listen to the events channel; reconnect whenever Redis goes away."""
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        self._dispatch(message.get("data"))
            except (RedisError, OSError) as exc:
                _log.warning("events channel lost (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(RECONNECT_SECONDS)

    async def purge(self, now: float) -> int:
        return 0  # Redis expires what it holds

    async def close(self) -> None:
        await self._redis.aclose()

    def _dispatch(self, data: object) -> None:
        event = decode(data)
        if event is not None:
            for handler in self._handlers:
                handler(event)


async def _available(call: Callable[[], Awaitable[T]]) -> T:
    """Run a Redis call; a failure is :class:`StoreUnavailable` (503), never a false success."""
    try:
        return await call()
    except (RedisError, OSError) as exc:
        raise StoreUnavailable(type(exc).__name__) from exc


def _token_key(digest: str) -> str:
    return PREFIX + "t:" + digest


def _chain_key(chain_id: str) -> str:
    return PREFIX + "chain:" + chain_id


def _grant_key(grant_key: str) -> str:
    return PREFIX + "grant:" + grant_key


def _tombstone_key(chain_id: str) -> str:
    return PREFIX + "cr:" + chain_id


def _answer(records: Sequence[TokenRecord], jwts: Sequence[ChainJwt]) -> tuple[str, str]:
    """What a rotated token remembers of the answer: successor digests, JWTs [jti, exp]."""
    ids = [[j.jti, "" if j.expires_at is None else repr(j.expires_at)] for j in jwts]
    return json.dumps([r.digest for r in records]), json.dumps(ids)


def _payload(records: Sequence[TokenRecord], jwts: Sequence[ChainJwt]) -> tuple[str, str]:
    """The JSON arguments of the store script."""
    rows = []
    for r in records:
        row: dict[str, Any] = {
            "d": r.digest,
            "c": r.chain_id,
            "g": r.grant_key,
            "f": [item for pair in _fields(r).items() for item in pair],
        }
        if r.expires_at is not None:
            row["x"] = int(r.expires_at) + 1
        rows.append(row)
    ids = []
    for j in jwts:
        jwt: dict[str, Any] = {"j": j.jti, "c": j.chain_id}
        if j.expires_at is not None:
            jwt |= {"u": repr(j.expires_at), "x": int(j.expires_at) + 1}
        ids.append(jwt)
    return json.dumps(rows), json.dumps(ids)


def _fields(r: TokenRecord) -> dict[str, str]:
    return {
        "kind": r.kind,
        "chain_id": r.chain_id,
        "grant_key": r.grant_key,
        "client_id": r.client_id,
        "subject": r.subject,
        "username": r.username or "",
        "has_username": "1" if r.username is not None else "0",
        "scope": _SEP.join(r.scope),
        "audience": _SEP.join(r.audience),
        "token_type": r.token_type,
        "management": r.management,
        "issued_at": repr(r.issued_at),
        "expires_at": "" if r.expires_at is None else repr(r.expires_at),
        "chain_started_at": repr(r.chain_started_at),
        "refresh_count": str(r.refresh_count),
        "used": "1" if r.used else "0",
        "revoked": "1" if r.revoked else "0",
        "namespace": r.namespace,
        "used_at": "" if r.used_at is None else repr(r.used_at),
        "jkt": r.jkt,
    }


def _record(digest: str, f: dict[str, str]) -> TokenRecord:
    return TokenRecord(
        digest=digest,
        kind="refresh" if f["kind"] == "refresh" else "access",
        chain_id=f["chain_id"],
        grant_key=f["grant_key"],
        client_id=f["client_id"],
        subject=f["subject"],
        username=f["username"] if f["has_username"] == "1" else None,
        scope=tuple(filter(None, f["scope"].split(_SEP))),
        audience=tuple(filter(None, f["audience"].split(_SEP))),
        token_type="JWT" if f["token_type"] == "JWT" else "OAuth2",
        management="ACL" if f["management"] == "ACL" else "Policy",
        issued_at=float(f["issued_at"]),
        expires_at=float(f["expires_at"]) if f["expires_at"] else None,
        chain_started_at=float(f["chain_started_at"]),
        refresh_count=int(f["refresh_count"]),
        used=f["used"] == "1",
        revoked=f["revoked"] == "1",
        namespace=f.get("namespace", ""),
        used_at=float(f["used_at"]) if f.get("used_at") else None,
        jkt=f.get("jkt", ""),
    )
