"""One watch (``ObjectWatch``) against a small API server on loopback that sends what the
emulator cannot: events near and over the cap, and a stream that is not JSON."""

import asyncio
import json
import logging

import aiohttp
from aiohttp import web

from gatekey.issuer.kube.watch import MAX_EVENT_BYTES, ObjectWatch
from gatekey.operator.kube.access import Access, Credentials

SECRET_MARK = "s3cr3t-payload"


def event(name: str, padding: int) -> bytes:
    obj = {
        "metadata": {"name": name, "resourceVersion": "2"},
        "data": {"htpasswd": SECRET_MARK + "x" * padding},
    }
    return json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n"


async def run_watch(watch_lines: list[bytes], until) -> tuple[ObjectWatch, list]:
    """Serve one list (empty) and then ``watch_lines`` on every watch; run the watch
    until ``until(watch, changes)`` holds."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "1":
            return web.json_response({"metadata": {"resourceVersion": "1"}, "items": []})
        response = web.StreamResponse()
        await response.prepare(request)
        for line in watch_lines:
            await response.write(line)
        return response

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/ns/secrets", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    changes: list = []
    async with aiohttp.ClientSession() as session:
        watch = ObjectWatch(
            session,
            Access.fixed(Credentials(server=f"http://127.0.0.1:{port}")),
            "ns",
            "secrets",
            "a=b",
            lambda *_: None,
            lambda ns, res, kind, obj: changes.append(obj["metadata"]["name"]),
        )
        task = asyncio.create_task(watch.run())
        try:
            for _ in range(400):
                if until(watch, changes):
                    break
                await asyncio.sleep(0.025)
            else:
                raise AssertionError(f"not reached: {watch.state}, {changes}")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await runner.cleanup()
    return watch, changes


async def test_an_event_of_several_mib_arrives():
    big = event("big", 3 * 1024 * 1024)
    watch, changes = await run_watch([event("small", 10), big], lambda w, c: "big" in c)
    assert changes[:2] == ["small", "big"]
    assert watch.state.failures == 0


async def test_an_event_over_the_cap_is_logged_without_content_and_retried(caplog):
    caplog.set_level(logging.WARNING, "gatekey.kube.watch")
    over = event("huge", MAX_EVENT_BYTES + 10)
    watch, changes = await run_watch([event("first", 10), over], lambda w, c: w.state.failures >= 2)
    assert not watch.state.healthy
    assert "longer than" in watch.state.last_error
    assert changes.count("first") >= 2  # retried: each watch replays from the start here
    logged = caplog.text
    assert "ns/secrets: watch failed (a watch event longer than" in logged
    assert SECRET_MARK not in logged


async def test_a_stream_that_is_not_json_is_logged_and_retried(caplog):
    caplog.set_level(logging.WARNING, "gatekey.kube.watch")
    watch, _ = await run_watch(
        [b'{"type": "ADDED", "object": ' + SECRET_MARK.encode() + b"\n"],
        lambda w, c: w.state.failures >= 2,
    )
    assert not watch.state.healthy
    assert "not JSON" in caplog.text
    assert SECRET_MARK not in caplog.text
