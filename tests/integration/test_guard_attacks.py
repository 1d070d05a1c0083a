"""Attacks on the route frame (a JSON guard per route, catch-all 404 and 405 routes) and on
the token endpoint's body reading, over raw sockets against a served issuer
(docs/reference.md: "a path no endpoint serves: 404, JSON body ``not_found``"; "any
method a path does not take, on any path: 405, JSON body")."""

import http.client
import json
import socket

import pytest

from tests.support.manifests import policy

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def issuer(start_issuer):
    return start_issuer(policy("p", "JWT"))


def _raw(issuer, data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Send ``data`` as is; every answer read until the server closes."""
    host, port = issuer.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    answers = []
    while received:
        head, _, rest = received.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        answers.append((int(status_line.split()[1]), headers, rest[:length]))
        received = rest[length:]
    return answers


def _form(issuer) -> bytes:
    client_id, secret = issuer.proxy_key("ApiProxy", "orders")
    return f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}".encode()


@pytest.mark.parametrize("path", ["/auth/jwt", "/nowhere", "/metrics", "issuer.example:443"])
def test_connect_reaches_no_route_and_no_handler(issuer, path):
    """``CONNECT``'s target is an authority (RFC 9110 §9.3.6), never a path: aiohttp
    refuses it before any route is tried, with its own plain 404 (docs/reference.md), so
    no endpoint, guard or token is ever involved: no 5xx, no token, nothing logged as a
    failure."""
    host, port = issuer.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("CONNECT", path)
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    assert answer.status == 404, body
    assert b"access_token" not in body
    assert b"Traceback" not in body


@pytest.mark.parametrize(
    "target",
    [
        "//auth/jwt",
        "/auth/jwt/",
        "/auth//jwt",
        "/x/../auth/jwt",
        "/auth/./jwt",
        "/%2e%2e/auth/jwt",
        "/auth/jwt%00",
        "/auth/jwt;x",
        "/AUTH/JWT",
        "/%zz",
        "/" + "a" * 7_000,
    ],
)
@pytest.mark.parametrize("method", ["POST", "HEAD", "OPTIONS", "PROPFIND", "TRACE"])
def test_a_path_trick_never_reaches_the_token_endpoint(issuer, target, method):
    """aiohttp matches the raw path: a spelling that is not the endpoint's own is a JSON
    refusal (400 from the endpoint itself for ``%6a``-style spellings aiohttp decodes),
    never a token, a 5xx or a page that is not JSON."""
    body = _form(issuer)
    request = (
        f"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    [(status, headers, answer)] = _raw(issuer, request)
    assert status in (404, 405), (status, answer)
    assert b"access_token" not in answer
    if method != "HEAD":
        assert headers["content-type"].startswith("application/json"), answer
        assert json.loads(answer)["error"] in ("not_found", "invalid_request")


def test_a_content_length_shorter_than_the_body_smuggles_nothing_into_the_form(issuer):
    """The bytes past Content-Length start the next request, a malformed one (aiohttp
    refuses the packet with a 400): they never become parameters of the token request,
    even though they came in the same packet (the read that takes what is buffered)."""
    body = _form(issuer)
    request = (
        (
            f"POST /auth/jwt HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        + b"&scope=admin\r\n\r\n"
    )
    answers = _raw(issuer, request)
    assert [status for status, _, _ in answers] in ([400], [200, 400])
    assert all(json.loads(a).get("scope", "") == "" for status, _, a in answers if status == 200)


def test_content_length_and_chunked_together_are_refused_without_a_token(issuer):
    """RFC 9112 §6.1: both framings at once is how requests are smuggled past a proxy."""
    body = _form(issuer)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    request = (
        f"POST /auth/jwt HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
        f"Content-Length: {len(chunked)}\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + chunked
    answers = _raw(issuer, request)
    assert [status for status, _, _ in answers] == [400]
    assert b"access_token" not in answers[0][2]


def test_a_chunked_body_split_across_packets_is_read_whole(issuer):
    """The body that did not come with the head is waited for (the read loop), not cut
    at what was buffered."""
    body = _form(issuer)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    head = (
        f"POST /auth/jwt HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    host, port = issuer.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(head + chunked[:20])
        conn.sendall(chunked[20:])
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    assert received.split()[1] == b"200", received[:300]
    assert b"access_token" in received


def test_an_announced_body_over_the_limit_is_413_even_after_100_continue(issuer):
    body_size = 1_000_000
    request = (
        f"POST /auth/jwt HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
        f"Content-Length: {body_size}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    host, port = issuer.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        received = b""
        while b"413" not in received or not received.endswith(b"}"):
            chunk = conn.recv(65536)
            assert chunk, received
            received += chunk
    final = received.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert final.startswith(b"HTTP/1.1 413 "), received
    assert json.loads(final.partition(b"\r\n\r\n")[2])["error"] == "invalid_request"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_that_does_not_decompress_is_400_not_500(issuer, encoding, chunked):
    """aiohttp inflates a ``Content-Encoding: gzip`` or ``deflate`` body itself and fails
    the read when it cannot: that is the client's bad input (400 ``invalid_request``),
    never a 500 with a traceback in the log."""
    body = b"\x1f\x8b\x08\x00this is not deflate data"
    framing = (
        ("Transfer-Encoding: chunked", b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        if chunked
        else (f"Content-Length: {len(body)}", body)
    )
    request = (
        f"POST /auth/jwt HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
        f"Content-Encoding: {encoding}\r\n{framing[0]}\r\nConnection: close\r\n\r\n"
    ).encode() + framing[1]
    [(status, _, answer)] = _raw(issuer, request)
    assert status == 400, answer
    assert json.loads(answer)["error"] == "invalid_request"


def test_a_malformed_request_never_writes_its_secret_to_the_log(tmp_path):
    """aiohttp's parser refuses a request with bytes after ``Connection: close`` (or a
    field over its limit) and logs the refusal with the bytes it choked on: here the
    form with the client's secret. Nothing a client sends may reach the log verbatim."""
    from tests.support.issuer import write_manifests
    from tests.support.process import serving, show_key

    manifests, state = tmp_path / "m", tmp_path / "state"
    write_manifests(manifests, policy("p", "JWT"))
    key = show_key(manifests, state)
    body = (
        f"grant_type=client_credentials&client_id={key['client_id']}"
        f"&client_secret={key['client_secret']}"
    ).encode()
    with serving(manifests, state) as (url, process):
        host, port = url.removeprefix("http://").split(":")
        head = (
            f"POST /auth/jwt HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
            "Content-Length: 1\r\nConnection: close\r\n\r\n"
        ).encode()
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(head + body)
            while conn.recv(65536):
                pass
        # A request after it: its audit line is written after anything the first caused.
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while conn.recv(65536):
                pass
    stdout, stderr = process.output()
    assert key["client_secret"] not in stdout + stderr
