"""The frame every OAuth endpoint runs in: errors become RFC 6749 §5.2 bodies (aiohttp's
refusals and unexpected failures too, as :mod:`gatekey.issuer.http.guard` answers them),
and each request writes one audit line (docs/contract.md)."""

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from gatekey.issuer import audit
from gatekey.issuer.errors import InvalidClient, InvalidGrant, OAuthError, TemporarilyUnavailable
from gatekey.issuer.grants import rules_of
from gatekey.issuer.http.guard import failure, refusal
from gatekey.issuer.http.responses import error_response
from gatekey.issuer.runtime import Runtime
from gatekey.issuer.store.base import StoreUnavailable
from gatekey.issuer.throttle import Attempt, pause

Work = Callable[[web.Request, audit.AuditEntry], Awaitable[web.StreamResponse]]


def audited(runtime: Runtime, endpoint: str, work: Work) -> Handler:
    """Run ``work``; answer its OAuth errors on the wire; audit the outcome."""

    async def handle(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        source = runtime.settings.client_address(
            request.remote, request.headers.get("X-Forwarded-For")
        )
        entry = audit.AuditEntry(endpoint=endpoint, source=source)
        response: web.StreamResponse | None = None
        try:
            response = await work(request, entry)
            if runtime.throttle.failing:  # nothing to forget otherwise: no attempt to build
                await runtime.throttle.succeeded(_attempt(runtime, entry))
        except OAuthError as error:
            entry.error = error.error
            if counts_as_failure(error, entry):
                delay = await runtime.throttle.failed(
                    _attempt(runtime, entry), isinstance(error, InvalidClient), runtime.clock()
                )
                await pause(delay)
            response = error_response(error)
        except StoreUnavailable:
            unavailable = TemporarilyUnavailable("the token store is unavailable")
            entry.error = unavailable.error
            response = error_response(unavailable)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            entry.error = "invalid_request"
            response = refusal(exc)
        except Exception:
            entry.error = "server_error"
            response = failure(request)
        finally:
            # To the microsecond; int() rounds in a tenth of round(x, 3)'s time.
            entry.duration_ms = int((time.perf_counter() - started) * 1e6 + 0.5) / 1000
            if response is not None:
                entry.status = response.status
            runtime.observe(entry)
        return response

    return handle


def admit(runtime: Runtime, entry: audit.AuditEntry) -> None:
    """Refuse the request (429) if its client or user is blocked from its address, or its
    address is blocked from trying unknown client ids."""
    if runtime.throttle.blocking:  # nothing is blocked otherwise: no attempt to build
        runtime.throttle.check(_attempt(runtime, entry), runtime.clock())


def _attempt(runtime: Runtime, entry: audit.AuditEntry) -> Attempt:
    snapshot = runtime.snapshots.current
    client_id = entry.client_id
    known = client_id is not None and (
        client_id in snapshot.proxy_keys or client_id in snapshot.credentials
    )
    return Attempt(client_id, known, entry.username, entry.source or "unknown")


def counts_as_failure(error: OAuthError, entry: audit.AuditEntry) -> bool:
    """Failed client authentication, or a wrong user password (where the grant's rules say
    an ``invalid_grant`` for a named user is one)."""
    if isinstance(error, InvalidClient):
        return True
    rules = rules_of(entry.grant)
    return (
        isinstance(error, InvalidGrant)
        and rules is not None
        and rules.wrong_password_counts
        and bool(entry.username)
    )
