"""A Kubernetes API emulator that a kopf operator (and a LIST+WATCH client) can run against.

kmock's ``KubernetesEmulator`` keeps objects in memory but lacks what kopf relies
on (see docs/operator.md, "Testing without a cluster"). This subclass serves every request
for a declared resource itself, and adds:

- ``resourceVersion`` (one counter, as etcd's), ``uid``, ``creationTimestamp``,
  ``generation`` (bumped when anything but metadata and status changes), and
  ``apiVersion``/``kind``/``metadata.namespace`` filled in on create;
- watches that resume from ``?resourceVersion=`` without a gap (replaying the
  changes after it from a bounded log, 410 Gone past the log), ``labelSelector``
  and ``fieldSelector`` on lists and watches (an object whose labels leave the
  selector is sent as DELETED), ``timeoutSeconds``, bookmarks, ``limit``/``continue``;
- PATCH by content type: JSON merge patch, JSON patch with ``test`` (422 when it
  fails), strategic merge treated as a merge patch; server-side apply is 415;
  PUT with the ``resourceVersion`` precondition (409); no-op writes change nothing;
- the status subresource isolated from the main resource; finalizers and
  ``deletionTimestamp``; ``stringData`` folded into ``data``; ``generateName``;
- CRDs: ``install_crd()`` (or POSTing a CustomResourceDefinition) declares the
  resource with its names, short names and categories, and objects are pruned,
  defaulted and validated by the CRD's schema, CEL rules included (422);
- garbage collection through ``ownerReferences`` (switchable, to test an operator
  that cleans up after itself);
- a trimmed request log (kmock matches each request against all earlier ones),
  a record of writes (``writes``) and injected failures (``fail()``,
  ``break_watches()``);
- (in ``kube_harness.LargeBodyServer``) request bodies up to 3 MiB: kmock's aiohttp
  server takes 1 MiB, less than one Secret the API server accepts (1 MiB of data is
  1.4 MiB of base64 JSON).

It belongs to the tests: nothing in the product imports it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import itertools
import json
import secrets
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering  # the request type kmock hands to _handle

from tests.support.kube_semantics import (
    BadSelector,
    CustomSchema,
    PatchFailed,
    field_selector,
    json_patch,
    label_selector,
    merge_patch,
)

Key = tuple[kmock.resource, str | None, str]
CRD_RESOURCE = kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
BOOKMARK_EVERY = 5.0  # seconds of silence before a watch that allows bookmarks gets one


class ApiError(Exception):
    """An error the emulator answers with a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


@dataclass(frozen=True)
class Change:
    """One entry of the change log that watches replay and stream."""

    rv: int
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass(frozen=True)
class Write:
    """One mutating request, for tests that check what an operator wrote."""

    method: str
    plural: str
    namespace: str | None
    name: str
    subresource: str | None
    changed: bool


@dataclass
class Fault:
    """An injected failure: the next ``times`` matching requests get ``code``."""

    method: str
    plural: str
    code: int
    times: int = 1
    name: str | None = None
    subresource: str | None = None
    hits: int = 0


@dataclass(eq=False)  # hashed by identity: kept in a set per resource
class _Watch:
    namespace: str | None
    match: Any
    queue: asyncio.Queue[Change] = field(default_factory=asyncio.Queue)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """kmock's emulator, taught what kopf and LIST+WATCH clients need (module docstring)."""

    log_limit: int = 20_000
    """How many changes per resource a watch can resume from; older is 410 Gone."""
    garbage_collection: bool = True
    """Delete dependents whose owners are all gone, as kube-controller-manager does."""
    history_limit: int = 8
    """Versions kept per object in ``objects`` (kmock keeps all; tests rarely need more)."""

    writes: list[Write] = attrs.field(factory=list, init=False)
    _rv: int = attrs.field(default=0, init=False)
    _store: dict[Key, dict[str, Any]] = attrs.field(factory=dict, init=False)
    _by_uid: dict[str, Key] = attrs.field(factory=dict, init=False)
    _log: dict[kmock.resource, deque[Change]] = attrs.field(
        factory=lambda: defaultdict(deque), init=False
    )
    _trimmed: dict[kmock.resource, int] = attrs.field(factory=dict, init=False)
    _watches: dict[kmock.resource, set[_Watch]] = attrs.field(
        factory=lambda: defaultdict(set), init=False
    )
    _schemas: dict[kmock.resource, CustomSchema] = attrs.field(factory=dict, init=False)
    _faults: list[Fault] = attrs.field(factory=list, init=False)

    # Set-up -----------------------------------------------------------------------------

    def install_crd(self, crd: Mapping[str, Any]) -> list[kmock.resource]:
        """Declare the resources of a CustomResourceDefinition and keep their schemas."""
        spec = crd["spec"]
        names = spec["names"]
        declared = []
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            res = kmock.resource(spec["group"], version["name"], names["plural"])
            self.resources[res] = kmock.ResourceInfo(
                kind=names["kind"],
                singular=names.get("singular") or names["kind"].lower(),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                verbs={"create", "delete", "get", "list", "patch", "update", "watch"},
                shortnames=set(names.get("shortNames", ())),
                categories=set(names.get("categories", ())),
                subresources=set((version.get("subresources") or {}).keys()),
            )
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                self._schemas[res] = CustomSchema(schema)
            declared.append(res)
        return declared

    def fail(
        self,
        method: str,
        plural: str,
        code: int = 500,
        *,
        times: int = 1,
        name: str | None = None,
        subresource: str | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching requests with ``code``."""
        fault = Fault(method.upper(), plural, code, times, name, subresource)
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Stop every injected failure."""
        self._faults.clear()

    def break_watches(self, plural: str, code: int = 500, message: str = "injected") -> int:
        """Send an ``ERROR`` event on every open watch of ``plural`` and end it, as the API
        server does when a watch cannot go on; how many watches were broken."""
        status = ApiError(code, "InternalError", message).status()
        broken = 0
        for res, watches in self._watches.items():
            if res.plural != plural:
                continue
            for watch in watches:
                watch.queue.put_nowait(Change(self._rv, "ERROR", status, None))
                broken += 1
        return broken

    def current(self, resource: kmock.resource, namespace: str | None, name: str) -> Any:
        """A copy of an object as stored, or None (for tests in the emulator's loop)."""
        found = self._store.get((resource, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def listed(self, resource: kmock.resource, namespace: str | None = None) -> list[Any]:
        """Copies of the objects of ``resource`` (in ``namespace``, or everywhere)."""
        return [
            copy.deepcopy(obj)
            for (res, ns, _), obj in sorted(self._store.items(), key=lambda kv: kv[0][1:])
            if res == resource and (namespace is None or ns == namespace)
        ]

    @property
    def resource_version(self) -> int:
        return self._rv

    # Dispatch ---------------------------------------------------------------------------

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        try:
            info = self._declared(request)
            if info is None:
                # Discovery and unknown paths: kmock's scaffold (and its 404s).
                return await kmock.KubernetesScaffold._handle(self, request)
            try:
                self._inject_fault(request)
                return await self._serve(request, info)
            except ApiError as error:
                return aiohttp.web.json_response(error.status(), status=error.code)
        finally:
            # kmock matches each request against the whole log: keep it empty.
            self._requests.clear()

    def _declared(self, request: rendering.Request) -> kmock.ResourceInfo | None:
        res = request.resource
        if res is None or not res.plural or res not in self.resources:
            return None
        return self.resources[res]

    def _inject_fault(self, request: rendering.Request) -> None:
        for fault in self._faults:
            if (
                fault.hits < fault.times
                and fault.method == request.method.value
                and fault.plural == request.resource.plural
                and fault.name in (None, request.name)
                and fault.subresource == request.subresource
            ):
                fault.hits += 1
                raise ApiError(fault.code, "InternalError", "injected failure")

    async def _serve(
        self, request: rendering.Request, info: kmock.ResourceInfo
    ) -> aiohttp.web.StreamResponse:
        method, name, params = request.method.value, request.name, request.params
        if info.namespaced is False and request.namespace:
            raise ApiError(404, "NotFound", "the resource is cluster-scoped")
        if name is None:
            if method == "GET" and params.get("watch") in ("true", "1"):
                return await self._watch(request, info)
            if method == "GET":
                return _json(self._list(request, info))
            if method == "POST":
                return _json(self._create(request, info), 201)
        else:
            if method == "GET":
                return _json(self._get(request))
            if method == "PATCH":
                return _json(self._patch(request, info))
            if method == "PUT":
                return _json(self._replace(request, info))
            if method == "DELETE":
                return _json(self._delete(request))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported here")

    # Reads ------------------------------------------------------------------------------

    def _get(self, request: rendering.Request) -> dict[str, Any]:
        return copy.deepcopy(self._existing(request))

    def _existing(self, request: rendering.Request) -> dict[str, Any]:
        key = (request.resource, request.namespace, request.name)
        obj = self._store.get(key)
        if obj is None:
            raise ApiError(404, "NotFound", f'{request.resource.plural} "{request.name}" not found')
        return obj

    def _list(self, request: rendering.Request, info: kmock.ResourceInfo) -> dict[str, Any]:
        match = self._matcher(request)
        items = [
            obj
            for (res, ns, _), obj in self._store.items()
            if res == request.resource
            and (request.namespace is None or ns == request.namespace)
            and match(obj)
        ]
        items.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        start = int(request.params.get("continue") or 0)
        limit = int(request.params.get("limit") or 0)
        page = items[start : start + limit] if limit else items[start:]
        meta: dict[str, Any] = {"resourceVersion": str(self._rv)}
        if limit and start + limit < len(items):
            meta["continue"] = str(start + limit)
            meta["remainingItemCount"] = len(items) - start - limit
        return {
            "apiVersion": _api_version(request.resource),
            "kind": f"{info.kind}List",
            "metadata": meta,
            "items": copy.deepcopy(page),
        }

    def _matcher(self, request: rendering.Request) -> Any:
        try:
            labels = label_selector(request.params.get("labelSelector"))
            fields = field_selector(request.params.get("fieldSelector"))
        except BadSelector as exc:
            raise ApiError(400, "BadRequest", str(exc)) from None
        return lambda obj: labels(obj) and fields(obj)

    async def _watch(
        self, request: rendering.Request, info: kmock.ResourceInfo
    ) -> aiohttp.web.StreamResponse:
        params = request.params
        res = request.resource
        watch = _Watch(request.namespace, self._matcher(request))
        since = params.get("resourceVersion")
        initial_stream = params.get("sendInitialEvents") == "true"
        # No await from here to the registration: nothing can change in between, so
        # the replay and the live stream neither overlap nor leave a gap.
        if since in (None, "", "0") or initial_stream:
            start = [
                {"type": "ADDED", "object": copy.deepcopy(obj)}
                for (r, ns, _), obj in sorted(self._store.items(), key=lambda kv: kv[0][1:])
                if r == res
                and (watch.namespace is None or ns == watch.namespace)
                and watch.match(obj)
            ]
        else:
            if not since.isdigit():
                raise ApiError(400, "BadRequest", f"invalid resourceVersion {since!r}")
            if int(since) < self._trimmed.get(res, 0):
                start = [{"type": "ERROR", "object": _gone(since)}]
            else:
                replay = (c for c in self._log[res] if c.rv > int(since))
                start = [e for c in replay if (e := self._event_for(watch, c))]
        gone = bool(start) and start[0]["type"] == "ERROR"
        if not gone:
            self._watches[res].add(watch)
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        assert request._raw_request is not None
        await response.prepare(request._raw_request)
        timeout = float(params.get("timeoutSeconds") or 0)
        deadline = asyncio.get_running_loop().time() + timeout if timeout else None
        bookmarks = params.get("allowWatchBookmarks") == "true"
        try:
            for event in start:
                await response.write(_line(event))
            if gone:
                return response
            if initial_stream:
                await response.write(_line(_bookmark(res, info, self._rv, initial_end=True)))
            await self._stream(request, response, watch, info, deadline, bookmarks)
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._watches[res].discard(watch)
        return response

    async def _stream(
        self,
        request: rendering.Request,
        response: aiohttp.web.StreamResponse,
        watch: _Watch,
        info: kmock.ResourceInfo,
        deadline: float | None,
        bookmarks: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        raw = request._raw_request
        while True:
            now = loop.time()
            if deadline is not None and now >= deadline:
                if bookmarks:
                    await response.write(_line(_bookmark(request.resource, info, self._rv)))
                return
            if raw is not None and (raw.transport is None or raw.transport.is_closing()):
                return
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - now))
            try:
                change = await asyncio.wait_for(watch.queue.get(), wait)
            except TimeoutError:
                if bookmarks and loop.time() - quiet_since > BOOKMARK_EVERY:
                    await response.write(_line(_bookmark(request.resource, info, self._rv)))
                    quiet_since = loop.time()
                continue
            if change.type == "ERROR":
                await response.write(_line({"type": "ERROR", "object": change.obj}))
                return
            event = self._event_for(watch, change)
            if event is not None:
                await response.write(_line(event))
                quiet_since = loop.time()

    @staticmethod
    def _event_for(watch: _Watch, change: Change) -> dict[str, Any] | None:
        """The event one watch sees: a change that moves an object into or out of its
        selector is ADDED or DELETED for it, as the API server's watch cache does."""
        ns = change.obj["metadata"].get("namespace")
        if watch.namespace is not None and ns != watch.namespace:
            return None
        now = watch.match(change.obj) and change.type != "DELETED"
        before = change.old is not None and watch.match(change.old)
        if change.type == "DELETED":
            kind = "DELETED" if watch.match(change.obj) else None
        elif now and before:
            kind = "MODIFIED"
        elif now:
            kind = "ADDED"
        elif before:
            kind = "DELETED"
        else:
            kind = None
        return {"type": kind, "object": copy.deepcopy(change.obj)} if kind else None

    # Writes -----------------------------------------------------------------------------

    def _create(self, request: rendering.Request, info: kmock.ResourceInfo) -> dict[str, Any]:
        body = request.data
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be a JSON object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if not meta.get("name"):
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        if info.namespaced:
            namespace = request.namespace or meta.get("namespace")
            if not namespace:
                raise ApiError(400, "BadRequest", "the namespace of the object is missing")
            if meta.get("namespace") not in (None, namespace):
                raise ApiError(400, "BadRequest", "the namespace of the object does not match")
            meta["namespace"] = namespace
        else:
            namespace = None
        obj["apiVersion"] = _api_version(request.resource)
        obj["kind"] = info.kind
        key = (request.resource, namespace, meta["name"])
        if key in self._store:
            raise ApiError(409, "AlreadyExists", f'{info.kind} "{meta["name"]}" already exists')
        if "status" in info.subresources:
            obj.pop("status", None)  # status is written through /status only
        obj = self._admit(request, info, obj)
        meta = obj["metadata"]
        for server_field in ("resourceVersion", "deletionTimestamp", "managedFields"):
            meta.pop(server_field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        if "status" in info.subresources:
            meta["generation"] = 1
        self._commit(request, key, obj, None, "ADDED")
        if request.resource == CRD_RESOURCE:
            self.install_crd(obj)
        return copy.deepcopy(obj)

    def _patch(self, request: rendering.Request, info: kmock.ResourceInfo) -> dict[str, Any]:
        old = self._existing(request)
        kind = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            if kind == "application/json-patch+json":
                new = json_patch(old, request.data)
            elif kind in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                if not isinstance(request.data, dict):
                    raise ApiError(400, "BadRequest", "a merge patch is a JSON object")
                wanted = (request.data.get("metadata") or {}).get("resourceVersion")
                if wanted and wanted != old["metadata"]["resourceVersion"]:
                    raise ApiError(409, "Conflict", "the object has been modified")
                new = merge_patch(old, request.data)
            elif kind == "application/apply-patch+yaml":
                raise ApiError(415, "UnsupportedMediaType", "server-side apply is not emulated")
            else:
                raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {kind!r}")
        except PatchFailed as exc:
            raise ApiError(422, "Invalid", str(exc)) from None
        return self._update(request, info, old, new)

    def _replace(self, request: rendering.Request, info: kmock.ResourceInfo) -> dict[str, Any]:
        old = self._existing(request)
        new = request.data
        if not isinstance(new, dict):
            raise ApiError(400, "BadRequest", "the body must be a JSON object")
        wanted = (new.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        return self._update(request, info, old, copy.deepcopy(new))

    def _update(
        self,
        request: rendering.Request,
        info: kmock.ResourceInfo,
        old: dict[str, Any],
        new: dict[str, Any],
    ) -> dict[str, Any]:
        if not isinstance(new, dict):
            raise ApiError(422, "Invalid", "the result is not an object")
        status_only = request.subresource == "status"
        if "status" in info.subresources:
            if status_only:
                # /status writes only status (metadata is kept as it is).
                new = {**copy.deepcopy(old), "status": new.get("status")}
                if new["status"] is None:
                    del new["status"]
            elif "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        elif status_only:
            raise ApiError(404, "NotFound", "the resource has no status subresource")
        meta = new.setdefault("metadata", {})
        for fixed in ("name", "namespace", "uid", "creationTimestamp", "generation"):
            if fixed in old["metadata"]:
                meta[fixed] = old["metadata"][fixed]
        if old["metadata"].get("deletionTimestamp"):
            meta["deletionTimestamp"] = old["metadata"]["deletionTimestamp"]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        new = self._admit(request, info, new)
        key = (request.resource, request.namespace, request.name)
        if new == old:
            self._note(request, changed=False)  # a no-op write changes nothing, not even the RV
            return copy.deepcopy(old)
        if "generation" in meta and _content(new) != _content(old):
            meta["generation"] = old["metadata"]["generation"] + 1
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._commit(request, key, new, old, "MODIFIED")
            self._remove(key, request)
            return copy.deepcopy(new)
        self._commit(request, key, new, old, "MODIFIED")
        return copy.deepcopy(new)

    def _delete(self, request: rendering.Request) -> dict[str, Any]:
        old = self._existing(request)
        options = request.data if isinstance(request.data, dict) else {}
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
            raise ApiError(409, "Conflict", "precondition failed: uid")
        if (
            pre.get("resourceVersion")
            and pre["resourceVersion"] != old["metadata"]["resourceVersion"]
        ):
            raise ApiError(409, "Conflict", "precondition failed: resourceVersion")
        key = (request.resource, request.namespace, request.name)
        if old["metadata"].get("finalizers"):
            if not old["metadata"].get("deletionTimestamp"):
                new = copy.deepcopy(old)
                new["metadata"]["deletionTimestamp"] = _now()
                self._commit(request, key, new, old, "MODIFIED")
                return copy.deepcopy(new)
            self._note(request, changed=False)
            return copy.deepcopy(old)
        policy = options.get("propagationPolicy") or request.params.get("propagationPolicy")
        self._remove(key, request, orphan=policy == "Orphan")
        return copy.deepcopy(old)

    def _admit(
        self, request: rendering.Request, info: kmock.ResourceInfo, obj: dict[str, Any]
    ) -> dict[str, Any]:
        """What the API server does before storing: type-specific fixes and validation."""
        if info.kind == "Secret":
            obj = _fold_string_data(obj)
        if info.kind == "ConfigMap":
            for k, v in (obj.get("data") or {}).items():
                if not isinstance(v, str):
                    raise ApiError(422, "Invalid", f"data.{k}: must be a string")
        for ref in obj["metadata"].get("ownerReferences") or ():
            missing = [k for k in ("apiVersion", "kind", "name", "uid") if not ref.get(k)]
            if missing:
                raise ApiError(422, "Invalid", f"metadata.ownerReferences: missing {missing}")
        schema = self._schemas.get(request.resource)
        if schema is not None:
            strict = request.params.get("fieldValidation") == "Strict"
            obj, errors = schema.admit(obj, strict=strict)
            if request.subresource == "status":
                # The spec did not change: validation ratcheting (Kubernetes 1.30) lets an
                # invalid one stand, so only status is checked.
                errors = [e for e in errors if e.path.split(".")[0].split("[")[0] == "status"]
            if errors:
                raise ApiError(
                    422,
                    "Invalid",
                    f'{info.kind} "{obj["metadata"].get("name")}" is invalid: '
                    + "; ".join(str(e) for e in errors),
                )
        return obj

    # Storage and the change log ---------------------------------------------------------

    def _commit(
        self,
        request: rendering.Request | None,
        key: Key,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        kind: str,
    ) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._store[key] = obj
        self._by_uid[obj["metadata"]["uid"]] = key
        self._mirror(key, obj)
        self._record(key[0], Change(self._rv, kind, copy.deepcopy(obj), old))
        if request is not None:
            self._note(request, changed=True)

    def _remove(self, key: Key, request: rendering.Request | None, *, orphan: bool = False) -> None:
        obj = self._store.pop(key)
        self._by_uid.pop(obj["metadata"]["uid"], None)
        self._rv += 1
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[key].delete()
        self._record(key[0], Change(self._rv, "DELETED", gone, obj))
        if request is not None and request.method.value == "DELETE":
            self._note(request, changed=True)
        if self.garbage_collection and not orphan:
            self._collect(obj["metadata"]["uid"])

    def _collect(self, uid: str) -> None:
        """Dependents of a deleted owner: deleted when no owner is left, else unlinked."""
        for key, obj in list(self._store.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if key not in self._store or not any(r.get("uid") == uid for r in refs):
                continue
            alive = [r for r in refs if r.get("uid") in self._by_uid]
            if not alive:
                self._remove(key, None)
            else:
                new = copy.deepcopy(obj)
                new["metadata"]["ownerReferences"] = alive
                self._commit(None, key, new, obj, "MODIFIED")

    def _record(self, resource: kmock.resource, change: Change) -> None:
        log = self._log[resource]
        log.append(change)
        while len(log) > self.log_limit:
            self._trimmed[resource] = log.popleft().rv
        for watch in self._watches[resource]:
            watch.queue.put_nowait(change)

    def _mirror(self, key: Key, obj: dict[str, Any]) -> None:
        """Keep kmock's ``objects`` view (with a bounded history) in step."""
        if key in self._objects:
            history = self._objects[key].history
            history.append(copy.deepcopy(obj))
            del history[: -self.history_limit]
        else:
            self._objects[key] = copy.deepcopy(obj)

    def _note(self, request: rendering.Request, *, changed: bool) -> None:
        self.writes.append(
            Write(
                request.method.value,
                request.resource.plural,
                request.namespace,
                request.name or "",
                request.subresource,
                changed,
            )
        )


# Helpers ------------------------------------------------------------------------------


def _api_version(res: kmock.resource) -> str:
    return f"{res.group}/{res.version}" if res.group else str(res.version)


def _json(body: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.json_response(body, status=status)


def _line(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event).encode() + b"\n"


def _gone(since: str) -> dict[str, Any]:
    return ApiError(410, "Expired", f"too old resource version: {since}").status()


def _bookmark(
    res: kmock.resource, info: kmock.ResourceInfo, rv: int, *, initial_end: bool = False
) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {
        "type": "BOOKMARK",
        "object": {"apiVersion": _api_version(res), "kind": info.kind, "metadata": meta},
    }


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What ``generation`` counts: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _fold_string_data(obj: dict[str, Any]) -> dict[str, Any]:
    """``stringData`` is merged into ``data`` (base64) and never stored, as the API server does."""
    data = dict(obj.get("data") or {})
    for k, v in (obj.pop("stringData", None) or {}).items():
        data[k] = base64.b64encode(str(v).encode()).decode()
    for k, v in data.items():
        try:
            base64.b64decode(v, validate=True)
        except (binascii.Error, TypeError):
            raise ApiError(422, "Invalid", f"data[{k}]: illegal base64 data") from None
    if data or "data" in obj:
        obj["data"] = data
    obj.setdefault("type", "Opaque")
    return obj


def group_counts(writes: Iterable[Write]) -> dict[tuple[str, str, str | None], int]:
    """Writes by (method, plural, subresource), for compact assertions."""
    counts: dict[tuple[str, str, str | None], int] = {}
    for key, group in itertools.groupby(
        sorted(writes, key=lambda w: (w.method, w.plural, w.subresource or "")),
        key=lambda w: (w.method, w.plural, w.subresource),
    ):
        counts[key] = len(list(group))
    return counts
