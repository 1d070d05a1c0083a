"""RFC 7009 revocation at /auth/revoke and /credential/revoke."""

import pytest

from gatekey.issuer.store.base import StoreUnavailable
from tests.verification.conftest import issue
from tests.verification.test_introspection import introspect


def revoke(issuer, base, client, token, **more):
    client_id, secret = client
    return issuer.post(
        f"{base}/revoke", {"token": token, "client_id": client_id, "client_secret": secret, **more}
    )


def test_revoking_an_opaque_access_token(world):
    svc = world.credential("svc")
    token = issue(world, "/credential/token", svc)["access_token"]
    assert revoke(world, "/credential", svc, token).status_code == 200
    assert introspect(world, "/credential", svc, token) == {"active": False}


def test_revoking_a_refresh_token_revokes_its_chain(world):
    svc = world.credential("svc")
    first = issue(world, "/credential/token", svc)
    refreshed = world.post(
        "/credential/token",
        {
            "grant_type": "refresh_token",
            "client_id": svc[0],
            "client_secret": svc[1],
            "refresh_token": first["refresh_token"],
        },
    ).json()
    assert (
        revoke(
            world, "/credential", svc, refreshed["refresh_token"], token_type_hint="refresh_token"
        ).status_code
        == 200
    )
    assert introspect(world, "/credential", svc, refreshed["access_token"]) == {"active": False}
    again = world.post(
        "/credential/token",
        {
            "grant_type": "refresh_token",
            "client_id": svc[0],
            "client_secret": svc[1],
            "refresh_token": refreshed["refresh_token"],
        },
    )
    assert again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("base", "path"), [("/auth", "/auth/jwt"), ("/credential", "/credential/jwt")]
)
def test_revoking_a_jwt_denies_its_jti(world, base, path):
    client = world.proxy_key("ApiProxy", "orders") if base == "/auth" else world.credential("svc")
    token = issue(world, path, client)["access_token"]
    assert introspect(world, base, client, token)["active"] is True
    assert revoke(world, base, client, token).status_code == 200
    assert introspect(world, base, client, token) == {"active": False}


def test_deny_list_survives_a_restart_of_the_runtime(world):
    import asyncio

    from gatekey.issuer.runtime import Runtime, SnapshotHolder
    from gatekey.issuer.verification import InvalidToken

    key = world.proxy_key("ApiProxy", "orders")
    token = issue(world, "/auth/jwt", key)["access_token"]
    revoke(world, "/auth", key, token)
    # A new runtime on the same store (an issuer restart) refuses the token too.
    snapshot = world.build.snapshot
    restarted = Runtime(SnapshotHolder(snapshot), world.runtime.store, clock=world.clock)
    asyncio.run(restarted.load_deny_list())
    with pytest.raises(InvalidToken, match="revoked"):
        asyncio.run(restarted.verifier.verify(token, snapshot, world.clock()))


def test_unknown_tokens_get_200(world):
    key = world.proxy_key("ApiProxy", "orders")
    for token in ("gkat_nope", "gkrt_nope", "garbage"):
        assert revoke(world, "/auth", key, token).status_code == 200


def test_token_of_another_client_is_refused(world):
    svc, other = world.credential("svc"), world.credential("other")
    token = issue(world, "/credential/token", svc)["access_token"]
    response = revoke(world, "/credential", other, token)
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    assert introspect(world, "/credential", svc, token)["active"] is True


def test_store_failure_is_503_not_a_false_success(world, monkeypatch):
    svc = world.credential("svc")
    token = issue(world, "/credential/token", svc)["access_token"]

    async def down(digest):
        raise StoreUnavailable("down")

    monkeypatch.setattr(world.runtime.store, "revoke", down)
    response = revoke(world, "/credential", svc, token)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
