"""Secret rotation in render (pure): requested by annotation, remembered, completed, expired."""

from datetime import timedelta

import pytest

from gatekey.issuer.snapshot import ClientSecret
from gatekey.operator import contract
from gatekey.operator.model.status import READY, ROTATION_REFUSED
from gatekey.operator.rotation import generations, pruned, rotated
from gatekey.operator.timestamps import parse_instant, rfc3339
from tests.unit.helpers import NOW, FakeEntropy, credential_doc, do_render, policy_doc

SECRET = "svc-credentials"


def annotated(doc, **annotations):
    doc["metadata"]["annotations"] = {
        f"gatekey.io/{k.replace('_', '-')}": v for k, v in annotations.items()
    }
    return doc


def values(rendered, name=SECRET):
    return contract.secret_values(rendered.by_name("Secret", name))


def generated_once():
    first = do_render(credential_doc("svc"))
    return values(first)


def test_a_new_annotation_value_rotates_once_and_keeps_the_old_secret():
    before = generated_once()
    doc = annotated(credential_doc("svc", previousSecretTTL="2h"), rotate_secret="r1")
    entropy = FakeEntropy()
    entropy.tokens = 100
    after = do_render(doc, secrets={SECRET: before}, generated=frozenset({SECRET}), entropy=entropy)
    out = values(after)
    assert out["client_id"] == before["client_id"]
    assert out["client_secret"] != before["client_secret"]
    assert out["previous_client_secret"] == before["client_secret"]
    assert out["previous_client_secret_expires_at"] == rfc3339(NOW + timedelta(hours=2))
    assert out["client_secret_created_at"] == rfc3339(NOW)
    assert out["previous_client_secret_created_at"] == before["client_secret_created_at"]
    assert "rotated the client secret" in after.rotations[("Credential", "svc")]
    status = after.statuses[("Credential", "svc")]
    assert status.ready
    assert status.fields["secretGenerations"] == {
        "current": {"createdAt": rfc3339(NOW)},
        "previous": {
            "createdAt": before["client_secret_created_at"],
            "expiresAt": rfc3339(NOW + timedelta(hours=2)),
        },
    }
    assert before["client_secret"] not in repr(status.fields)
    # The same value again (a restarted operator, the next pass) does not rotate again.
    again = do_render(doc, secrets={SECRET: out}, generated=frozenset({SECRET}))
    assert values(again) == out
    assert not again.rotations


def test_default_previous_secret_ttl_is_24h():
    doc = annotated(credential_doc("svc"), rotate_secret="r1")
    out = values(do_render(doc, secrets={SECRET: generated_once()}, generated=frozenset({SECRET})))
    assert parse_instant(out["previous_client_secret_expires_at"]) == NOW + timedelta(hours=24)


def test_rotation_complete_drops_the_previous_secret():
    doc = annotated(credential_doc("svc"), rotate_secret="r1")
    out = values(do_render(doc, secrets={SECRET: generated_once()}, generated=frozenset({SECRET})))
    done = annotated(credential_doc("svc"), rotate_secret="r1", rotation_complete="r1")
    final = do_render(done, secrets={SECRET: out}, generated=frozenset({SECRET}))
    assert "previous_client_secret" not in values(final)
    assert values(final)["client_secret"] == out["client_secret"]
    assert "rotation complete" in final.rotations[("Credential", "svc")]
    # A completion naming another value does nothing.
    other = annotated(credential_doc("svc"), rotate_secret="r1", rotation_complete="r0")
    assert values(do_render(other, secrets={SECRET: out}, generated=frozenset({SECRET}))) == out


def test_an_expired_previous_secret_is_dropped():
    doc = annotated(credential_doc("svc", previousSecretTTL="1h"), rotate_secret="r1")
    out = values(do_render(doc, secrets={SECRET: generated_once()}, generated=frozenset({SECRET})))
    later = do_render(
        doc, secrets={SECRET: out}, generated=frozenset({SECRET}), now=NOW + timedelta(hours=1)
    )
    assert "previous_client_secret" not in values(later)
    assert "previous" not in later.statuses[("Credential", "svc")].fields["secretGenerations"]


def test_a_request_made_before_the_secret_existed_does_not_rotate_later():
    doc = annotated(credential_doc("svc"), rotate_secret="r1")
    first = values(do_render(doc))
    again = do_render(doc, secrets={SECRET: first}, generated=frozenset({SECRET}))
    assert values(again) == first


def test_rotation_on_an_adopted_secret_is_refused_and_the_secret_kept():
    mine = {"client_id": "svc", "client_secret": "mine"}
    doc = annotated(credential_doc("svc"), rotate_secret="r1")
    rendered = do_render(doc, secrets={SECRET: mine})
    assert values(rendered) == mine
    status = rendered.statuses[("Credential", "svc")]
    assert not status.ready
    assert status.reason == ROTATION_REFUSED
    assert "user-owned" in status.message
    assert "previous_client_secret" in status.message
    # Served still: the ConfigMap is there.
    assert rendered.by_name("ConfigMap", "gatekey-credential-svc") is not None


def test_proxy_key_shared_by_two_policies_rotates_once_per_new_value():
    key = "apiproxy-orders-proxy-key"
    first = do_render(policy_doc("j"), policy_doc("o", "OAuth2"))
    before = values(first, key)
    docs = (
        annotated(policy_doc("j"), rotate_secret="a"),
        annotated(policy_doc("o", "OAuth2"), rotate_secret="b"),
    )
    out = values(do_render(*docs, secrets={key: before}, generated=frozenset({key})), key)
    assert out["previous_client_secret"] == before["client_secret"]
    again = do_render(*docs, secrets={key: out}, generated=frozenset({key}))
    assert values(again, key) == out
    status = again.statuses[("AuthPolicy", "j")]
    assert status.ready
    assert status.reason == READY
    assert "previous" in status.fields["secretGenerations"]


def test_rotated_keeps_two_generations_at_most():
    base = {"client_id": "c", "client_secret": "one"}
    two = rotated(base, "two", NOW, timedelta(hours=1))
    three = rotated(two, "three", NOW, timedelta(hours=1))
    assert three["client_secret"] == "three"
    assert three["previous_client_secret"] == "two"
    assert "one" not in three.values()
    assert pruned(three, NOW + timedelta(hours=1)) == {
        k: v for k, v in three.items() if not k.startswith("previous_")
    }
    assert generations(base) == {"current": {}}


@pytest.mark.parametrize(
    ("presented", "at", "expected"),
    [
        ("new", NOW, "current"),
        ("old", NOW, "previous"),
        ("old", NOW + timedelta(seconds=59), "previous"),
        ("old", NOW + timedelta(seconds=60), None),
        ("old", None, None),
        ("other", NOW, None),
        ("", NOW, None),
    ],
)
def test_client_secret_generations(presented, at, expected):
    secret = ClientSecret.of("new", "old", NOW + timedelta(seconds=60))
    assert secret.matches(presented, at) == expected


def test_rotation_on_an_adopted_proxy_key_is_refused():
    key = "apiproxy-orders-proxy-key"
    mine = {"client_id": "orders", "client_secret": "mine"}
    rendered = do_render(annotated(policy_doc("j"), rotate_secret="r1"), secrets={key: mine})
    assert values(rendered, key) == mine
    status = rendered.statuses[("AuthPolicy", "j")]
    assert not status.ready
    assert status.reason == ROTATION_REFUSED
    assert rendered.by_name("ConfigMap", "gatekey-authpolicy-j") is not None
