"""The key a token request's grant is remembered under (``issuer/http/grant_cache.py``)."""

from gatekey.issuer.http.grant_cache import request_key

BASIC = "Basic c3ZjOnNlY3JldA=="
BODY = b"grant_type=client_credentials&scope=orders.read"


def test_any_change_to_the_header_or_the_body_is_another_key():
    key = request_key(BASIC, BODY)
    assert request_key(BASIC, BODY) == key
    others = [
        request_key(BASIC + "x", BODY),
        request_key(BASIC.lower(), BODY),
        request_key(None, BODY),
        request_key(BASIC, BODY + b"&x=1"),
        request_key(BASIC, BODY.replace(b"read", b"write")),
        request_key(BASIC, b""),
    ]
    assert key not in others
    assert len(set(others)) == len(others)


def test_the_key_keeps_no_secret():
    key = request_key(BASIC, BODY + b"&client_secret=hunter2")
    assert len(key) == 32  # a SHA-256 digest
    assert b"hunter2" not in key
    assert b"c3ZjOnNlY3JldA" not in key


def test_a_header_that_was_not_utf8_still_has_a_key():
    undecodable = b"Basic \xff\xfe".decode("utf-8", "surrogateescape")
    assert request_key(undecodable, BODY) != request_key("Basic ", BODY)
