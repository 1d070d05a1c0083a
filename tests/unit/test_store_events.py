"""The wire form of the store's events: the JSON of earlier releases, and nothing
malformed gets through (a message from a newer release is skipped)."""

import json

import pytest

from gatekey.issuer.store.events import JtiDenied, KeyBlocked, decode, encode


@pytest.mark.parametrize(
    "event", [JtiDenied("j", None), JtiDenied("j", 1.5), KeyBlocked("client:c@192.0.2.1", 9.0)]
)
def test_round_trip(event):
    assert decode(encode(event)) == event


def test_the_wire_form_is_the_one_older_releases_speak():
    assert json.loads(encode(JtiDenied("j", 2.0))) == {"type": "deny", "jti": "j", "until": 2.0}
    assert json.loads(encode(KeyBlocked("k", 3.0))) == {"type": "block", "key": "k", "until": 3.0}
    assert decode(b'{"type": "deny", "jti": "j", "until": 7}') == JtiDenied("j", 7.0)


@pytest.mark.parametrize(
    "data",
    [
        None,
        42,
        "not json",
        "[]",
        '{"type": "deny"}',
        '{"type": "deny", "jti": 5, "until": null}',
        '{"type": "deny", "jti": "j", "until": "soon"}',
        '{"type": "deny", "jti": "j", "until": true}',
        '{"type": "block", "key": "k", "until": null}',
        '{"type": "block", "key": ["k"], "until": 1}',
        '{"type": "rotate", "key": "k", "until": 1}',
    ],
)
def test_anything_else_is_skipped(data):
    assert decode(data) is None
