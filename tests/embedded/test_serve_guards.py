"""``gatekey serve`` against slow, flooding and clashing neighbours, from outside: real
sockets against a real process.

- A connection that dribbles its request head is closed after ``--header-timeout``;
  one that dribbles its body gets 408 after ``--body-timeout``.
- Past ``--max-connections`` a connection is answered 503 and closed at once.
- A busy port, a state dir in use by another server, or one that cannot be written:
  one line on standard error, no traceback.
"""

import json
import socket

import requests

from tests.support.issuer import write_manifests
from tests.support.manifests import policy
from tests.support.process import eventually, free_port, gatekey, serving

NEVER = 60  # a socket timeout that only a hung server reaches: the test then fails


def manifests(tmp_path):
    return write_manifests(tmp_path / "m", policy("orders-jwt", "JWT")).parent


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(NEVER)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_a_slow_request_head_is_closed_and_others_are_served(tmp_path):
    with serving(manifests(tmp_path), tmp_path / "s", "--header-timeout", "1") as (url, _):
        slow = connect(url)
        slow.sendall(b"POST /auth/jwt HTTP/1.1\r\nHost: x\r\nContent-Type: applic")
        assert requests.get(url + "/healthz", timeout=5).status_code == 200
        assert read_all(slow) == b""  # closed without an answer
        slow.close()


def test_an_idle_connection_is_closed_after_the_header_timeout(tmp_path):
    with serving(manifests(tmp_path), tmp_path / "s", "--header-timeout", "1") as (url, _):
        idle = connect(url)
        assert read_all(idle) == b""
        idle.close()


def test_a_slow_body_gets_408_and_the_connection_closes(tmp_path):
    with serving(manifests(tmp_path), tmp_path / "s", "--body-timeout", "1") as (url, _):
        slow = connect(url)
        slow.sendall(
            b"POST /auth/jwt HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
            b"grant_type=client_"
        )
        answer = read_all(slow)
        slow.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ")
        assert b"Connection: close" in head
        assert json.loads(body)["error"] == "invalid_request"


def hold(url: str) -> socket.socket:
    """A connection the server accepted and keeps open (keep-alive after a 200). Retried
    while the server still counts a connection that the client closed a moment ago."""

    def attempt() -> socket.socket | None:
        sock = connect(url)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        if sock.recv(4096).startswith(b"HTTP/1.1 200 "):
            return sock
        sock.close()
        return None

    return eventually(attempt)


def test_connections_beyond_the_limit_get_503(tmp_path):
    with serving(manifests(tmp_path), tmp_path / "s", "--max-connections", "2") as (url, _):
        held = [hold(url), hold(url)]
        extra = connect(url)
        answer = read_all(extra)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"too many open connections" in answer
        for sock in held:
            sock.close()
        # Once the held ones are gone, connections are served again.
        eventually(lambda: _healthy(url))


def _healthy(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def one_line_error(done) -> str:
    """The error: the last line of standard error, with no traceback before it (log lines
    of what was done before the failure may precede it)."""
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("gatekey "), done.stderr
    assert all(line.startswith("{") for line in lines[:-1]), done.stderr  # JSON log lines
    return lines[-1]


def serve_once(folder, state, port, *extra):
    return gatekey(
        "serve", "--manifests", str(folder), "--state-dir", str(state), "--port", str(port), *extra
    )


def test_a_busy_port_is_one_line_with_the_hint(tmp_path):
    folder = manifests(tmp_path)
    with serving(folder, tmp_path / "first") as (url, _):
        port = int(url.rsplit(":", 1)[1])
        line = one_line_error(serve_once(folder, tmp_path / "second", port))
    assert line.startswith("gatekey serve: ")
    assert f"127.0.0.1:{port} is already in use" in line
    assert "--port" in line
    assert "PORT=" in line


def test_a_second_server_on_the_same_state_dir_stops_before_binding(tmp_path):
    folder, state = manifests(tmp_path), tmp_path / "state"
    with serving(folder, state, "--log-format", "text") as (_, first):
        port = free_port()
        line = one_line_error(serve_once(folder, state, port))
        assert "is in use by another gatekey serve" in line
        assert f"(pid {first.pid})" in line
        # It never listened: the port it was given is still free.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_a_state_dir_that_cannot_be_written_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = one_line_error(serve_once(manifests(tmp_path), blocker / "state", free_port()))
    assert "is not writable" in line
    assert "--state-dir" in line
    shown = gatekey(
        "show-key",
        "--manifests",
        str(manifests(tmp_path)),
        "--state-dir",
        str(blocker / "state"),
        "ApiProxy/orders",
    )
    assert "is not writable" in one_line_error(shown)


def test_the_limits_come_from_the_environment_too(tmp_path):
    env = {"GATEKEY_HEADER_TIMEOUT": "1", "GATEKEY_MAX_CONNECTIONS": "1"}
    with serving(manifests(tmp_path), tmp_path / "s", env=env) as (url, _):
        held = hold(url)
        with connect(url) as refused:
            assert read_all(refused).startswith(b"HTTP/1.1 503 ")  # one is the limit
        assert read_all(held) == b""  # idle after its answer: closed after one second
        held.close()
