"""``gatekey serve --kube``: no object the API server accepts breaks a watch, and a broken
watch is logged, retried and shown on ``/readyz``.

A Secret may hold 1 MiB of data; its watch event carries it as base64 (4/3 larger).
aiohttp's line reader stops at 128 KiB with an exception the watch did not catch: the
watch task ended silently, ``/readyz`` kept saying "in step" and later edits never
arrived. The emulator (``LargeBodyServer``) takes bodies up to 3 MiB, as the API server.
"""

import base64
from datetime import UTC, datetime

import requests

from gatekey.operator import contract
from gatekey.operator.entropy import SystemEntropy
from gatekey.operator.model import parse_document
from gatekey.operator.render import RenderInput, render
from tests.support.manifests import bcrypt_hash, credential, policy
from tests.support.process import eventually, serving

POOL_BYTES = 900 * 1024  # about 0.9 MiB of htpasswd lines, 1.2 MiB as base64


def rendered(*docs, secrets):
    resources = [parse_document(d, "test.yaml", str(i)) for i, d in enumerate(docs)]
    kinds = {k: [r for r in resources if r.kind == k] for k in ("AuthPolicy", "Credential", "Role")}
    result = render(
        RenderInput(
            "default",
            kinds["AuthPolicy"],
            kinds["Credential"],
            kinds["Role"],
            secrets,
            datetime.now(UTC),
            SystemEntropy(),
        )
    )
    for obj in result.objects:
        obj["metadata"].pop("ownerReferences", None)  # no CR exists here to own them
    return {(o["kind"], o["metadata"]["name"]): o for o in result.objects}


def shop(**cred_spec):
    return (
        policy(
            "shop",
            "JWT",
            "ProxyGroup/shop",
            management="ACL",
            proxies=["orders"],
            userPool={"secretName": "users"},
        ),
        credential(
            "svc",
            ["ProxyGroup/shop"],
            token={"grantTypes": ["client_credentials", "password"]},
            **cred_spec,
        ),
    )


def big_pool() -> str:
    """``alice`` first, then filler users up to ``POOL_BYTES``, ``zoe`` last."""
    line = bcrypt_hash("wonderland")
    lines = ["alice:" + line]
    size = len(lines[0]) + 1
    while size < POOL_BYTES:
        lines.append(f"user{len(lines):06d}:{line}")
        size += len(lines[-1]) + 1
    lines.append("zoe:" + line)
    return "\n".join(lines) + "\n"


def token(url, client, **more):
    client_id, secret = client
    data = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
    return requests.post(url + "/credential/jwt", data={**data, **more}, timeout=10)


def readyz(url):
    return requests.get(url + "/readyz", timeout=5).json()


def test_a_user_pool_of_0_9_mib_arrives_and_later_edits_too(tmp_path, kube, kubeconfig):
    small = {"users": {contract.HTPASSWD_KEY: "alice:" + bcrypt_hash("wonderland") + "\n"}}
    objects = rendered(*shop(), secrets=small)
    for obj in objects.values():
        kube.create(obj, "default")
    pool_name = contract.user_pool_secret("users")
    svc = contract.secret_values(objects[("Secret", "svc-credentials")])
    client = svc["client_id"], svc["client_secret"]
    zoe = {"grant_type": "password", "username": "zoe", "password": "wonderland"}
    with serving(
        tmp_path / "unused", tmp_path / "state", "--kube", "--kubeconfig", str(kubeconfig)
    ) as (url, process):
        assert token(url, client).status_code == 200
        assert token(url, client, **zoe).status_code == 400  # not in the pool yet

        # One watch event of about 1.2 MiB: the whole pool, as base64.
        pool = big_pool()
        assert len(pool) >= POOL_BYTES
        encoded = base64.b64encode(pool.encode()).decode()
        kube.patch("Secret", "default", pool_name, {"data": {contract.HTPASSWD_KEY: encoded}})
        eventually(lambda: token(url, client, **zoe).status_code == 200, timeout=20)

        # A later edit still arrives: the Credential disabled.
        disabled = rendered(*shop(disabled=True), secrets=small)[
            ("ConfigMap", contract.credential_configmap("svc"))
        ]
        kube.patch(
            "ConfigMap",
            "default",
            contract.credential_configmap("svc"),
            {"data": disabled["data"]},
        )
        eventually(lambda: token(url, client).status_code == 401)
        assert readyz(url)["source"] == "in step"
    assert "watch failed" not in process.output()[1]


def test_a_broken_watch_is_logged_retried_and_shown_on_readyz(tmp_path, emulator, kube, kubeconfig):
    objects = rendered(*shop(), secrets={"users": {contract.HTPASSWD_KEY: ""}})
    for obj in objects.values():
        kube.create(obj, "default")
    svc = contract.secret_values(objects[("Secret", "svc-credentials")])
    client = svc["client_id"], svc["client_secret"]
    with serving(
        tmp_path / "unused", tmp_path / "state", "--kube", "--kubeconfig", str(kubeconfig)
    ) as (url, process):
        assert readyz(url)["source"] == "in step"
        # Every new watch of Secrets is refused, and the open one ends with an ERROR event.
        emulator.call(lambda emu: emu.fail("GET", "secrets", 500, times=1_000_000))
        assert emulator.call(lambda emu: emu.break_watches("secrets")) == 1
        eventually(lambda: readyz(url)["source"] != "in step")
        # Ready still (the last good configuration serves), and it says so.
        assert requests.get(url + "/readyz", timeout=5).status_code == 200
        assert token(url, client).status_code == 200
        eventually(lambda: "default/secrets: watch failed (HTTP 500" in process.output()[1])
        assert "default/secrets: watch failed (ERROR event: 500" in process.output()[1]

        # Retried with backoff: once the API server answers again, the watch is back, and
        # a Secret change made meanwhile arrives.
        kube.delete("Secret", "default", "svc-credentials")
        emulator.call(lambda emu: emu.clear_faults())
        eventually(lambda: readyz(url)["source"] == "in step", timeout=20)
        eventually(lambda: token(url, client).status_code == 401)
