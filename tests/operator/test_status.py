"""Status (pure): the Ready condition's conventions and minimal patches."""

from datetime import UTC, datetime, timedelta

from gatekey.operator.kube.observed import observe_cr
from gatekey.operator.kube.status import (
    Verdict,
    became_ready,
    desired_status,
    status_patch,
    verdict_of,
)
from gatekey.operator.render import Status
from tests.support.manifests import credential

NOW = datetime(2030, 1, 2, 3, 4, 5, 678, tzinfo=UTC)


def cr(generation: int = 1, status: dict | None = None, **spec):
    doc = credential("c", **spec)
    doc["metadata"] |= {"namespace": "ns", "uid": "u", "generation": generation}
    if status:
        doc["status"] = status
    return observe_cr(doc)


def test_ready_condition_and_fields() -> None:
    fields = {"clientId": "id", "secretName": "s", "roles": ["r"], "acl": []}
    status = desired_status(cr(3), Verdict(True, "Ready", "ok"), fields, {}, NOW)
    assert status == {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "ok",
                "lastTransitionTime": "2030-01-02T03:04:05Z",
                "observedGeneration": 3,
            }
        ],
        "observedGeneration": 3,
        "clientId": "id",
        "secretName": "s",
        "roles": ["r"],
        "acl": [],
    }


def test_transition_time_moves_only_when_status_flips() -> None:
    first = desired_status(cr(), Verdict(True, "Ready", "a"), {}, {}, NOW)
    later = NOW + timedelta(hours=1)
    same = desired_status(cr(2), Verdict(True, "Ready", "b"), {}, first, later)
    assert same["conditions"][0]["lastTransitionTime"] == "2030-01-02T03:04:05Z"
    flipped = desired_status(cr(2), Verdict(False, "SecretMissing", "c"), {}, same, later)
    assert flipped["conditions"][0]["lastTransitionTime"] == "2030-01-02T04:04:05Z"
    assert became_ready(same, flipped) is False
    assert became_ready(first, same) is None
    assert became_ready({}, first) is True


def test_patches_are_minimal() -> None:
    before = desired_status(cr(), Verdict(True, "Ready", "a"), {"clientId": "x"}, {}, NOW)
    assert status_patch(before, before) is None
    after = desired_status(cr(), Verdict(False, "SecretMissing", "m"), {}, before, NOW)
    patch = status_patch(before, after)
    assert patch["status"]["clientId"] is None  # a field that no longer applies is removed


def test_a_key_gone_from_a_nested_object_is_sent_as_null() -> None:
    rotated = {"current": {"createdAt": "t1"}, "previous": {"expiresAt": "t2"}}
    before = desired_status(
        cr(), Verdict(True, "Ready", "a"), {"secretGenerations": rotated}, {}, NOW
    )
    done = {"current": {"createdAt": "t1"}}
    after = desired_status(
        cr(), Verdict(True, "Ready", "a"), {"secretGenerations": done}, before, NOW
    )
    patch = status_patch(before, after)
    # RFC 7386: without the null, a merge patch would keep "previous".
    assert patch["status"]["secretGenerations"] == {
        "current": {"createdAt": "t1"},
        "previous": None,
    }


def test_verdicts() -> None:
    invalid = cr(claims=[{"key": "sub", "value": "x"}])
    verdict = verdict_of(invalid, None)
    assert verdict.permanent
    assert verdict.reason == "Invalid"
    assert "reserved" in verdict.message
    missing = verdict_of(cr(), Status(False, "SecretMissing", "gone"))
    assert not missing.permanent
    assert (missing.ready, missing.reason) == (False, "SecretMissing")
