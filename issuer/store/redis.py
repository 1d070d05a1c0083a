"""The Redis store: several issuer replicas share tokens, chains, revocations and counters.

Every token is a hash under ``gk:t:<digest>`` that expires with the token, so
nothing outlives what it describes. Chains and grants are sets of digests.
Rotation and revocation run as Lua scripts, so two replicas racing on one
refresh token cannot both win. Events (a denied ``jti``, a blocked client)
travel on a pub/sub channel that every replica listens to.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gatekey.issuer.store.base import Event, EventHandler, StoreUnavailable, TokenRecord

_log = logging.getLogger("gatekey.store.redis")
T = TypeVar("T")

PREFIX = "gk:"
CHANNEL = PREFIX + "events"
_SEP = "\x1f"
RECONNECT_SECONDS = 0.5

# KEYS[1] = token hash. Marks an unused, unrevoked refresh token used; 1 if it did.
_USE_REFRESH = """
if redis.call('HGET', KEYS[1], 'kind') ~= 'refresh' then return 0 end
if redis.call('HGET', KEYS[1], 'used') ~= '0' then return 0 end
if redis.call('HGET', KEYS[1], 'revoked') ~= '0' then return 0 end
redis.call('HSET', KEYS[1], 'used', '1')
return 1
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
    """A :class:`~gatekey.issuer.store.base.TokenStore` on Redis (``redis://host:port/db``)."""

    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=2,
            socket_connect_timeout=2,
            decode_responses=True,
            health_check_interval=10,
        )
        self._handlers: list[EventHandler] = []
        self._use_refresh = self._redis.register_script(_USE_REFRESH)
        self._revoke_set = self._redis.register_script(_REVOKE_SET)
        self._revoke_one = self._redis.register_script(_REVOKE_ONE)
        self._count_failure = self._redis.register_script(_COUNT_FAILURE)

    async def add(self, *records: TokenRecord) -> None:
        async def write() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                for record in records:
                    key = _token_key(record.digest)
                    pipe.hset(key, mapping=cast(Any, _fields(record)))
                    members = (_chain_key(record.chain_id), _grant_key(record.grant_key))
                    for member in members:
                        pipe.sadd(member, record.digest)
                    if record.expires_at is not None:
                        at = int(record.expires_at) + 1
                        pipe.expireat(key, at)
                        for member in members:
                            pipe.expireat(member, at, gt=True)
                    else:
                        for member in members:
                            pipe.persist(member)
                await pipe.execute()

        await _available(write)

    async def get(self, digest: str) -> TokenRecord | None:
        fields = await _available(lambda: self._redis.hgetall(_token_key(digest)))
        # decode_responses=True: keys and values are str.
        return _record(digest, cast(dict[str, str], fields)) if fields else None

    async def use_refresh(self, digest: str) -> bool:
        used = await _available(lambda: self._use_refresh(keys=[_token_key(digest)]))
        return bool(used)

    async def revoke(self, digest: str) -> None:
        await _available(lambda: self._revoke_one(keys=[_token_key(digest)]))

    async def revoke_chain(self, chain_id: str) -> None:
        await _available(
            lambda: self._revoke_set(keys=[_chain_key(chain_id)], args=[PREFIX + "t:"])
        )

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

    async def count_failure(self, key: str, window: float) -> int:
        count = await _available(
            lambda: self._count_failure(keys=[PREFIX + "fail:" + key], args=[int(window * 1000)])
        )
        return int(count)

    async def clear_failures(self, key: str) -> None:
        await _available(lambda: self._redis.delete(PREFIX + "fail:" + key))

    async def publish(self, event: Event) -> None:
        await _available(lambda: self._redis.publish(CHANNEL, json.dumps(event)))

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

    def _dispatch(self, data: Any) -> None:
        try:
            event = json.loads(data)
        except (TypeError, ValueError):
            return
        if isinstance(event, dict):
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
        token_type=f["token_type"],
        management=f["management"],
        issued_at=float(f["issued_at"]),
        expires_at=float(f["expires_at"]) if f["expires_at"] else None,
        chain_started_at=float(f["chain_started_at"]),
        refresh_count=int(f["refresh_count"]),
        used=f["used"] == "1",
        revoked=f["revoked"] == "1",
        namespace=f.get("namespace", ""),
    )
