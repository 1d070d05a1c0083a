"""Liveness and readiness (Kubernetes probe conventions): ``/healthz`` and ``/readyz``."""

from aiohttp import web

from gatekey.issuer.runtime import Runtime


def health_routes(runtime: Runtime) -> list[web.RouteDef]:
    """``/healthz``: the process serves. ``/readyz``: a configuration is loaded (a store
    outage does not make the issuer unready: stateful grants answer 503 meanwhile)."""

    async def healthz(request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.StreamResponse:
        snapshots = runtime.snapshots
        if not snapshots.loaded:
            return web.json_response({"status": "loading"}, status=503)
        source = "in step" if runtime.source_healthy else "unreachable; serving the last good"
        skipped = len(snapshots.current.errors)
        return web.json_response({"status": "ready", "skipped": skipped, "source": source})

    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]
