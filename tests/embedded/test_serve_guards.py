"""``gatekey serve`` against slow, flooding and clashing neighbours, from outside: real
sockets against a real process.

- A connection that dribbles its request head is closed after ``--header-timeout``;
  one that dribbles its body gets 408 after ``--body-timeout`` and is closed soon after,
  while it still sends; a client still sending a body when it is refused (413, 400,
  404) reads its answer.
- Past ``--max-connections`` a connection is answered 503 and closed at once.
- A busy port, a state dir in use by another server, or one that cannot be written:
  one line on standard error, no traceback.
"""

import contextlib
import http.client
import json
import re
import socket
import threading
import time

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


class Dribbler:
    """A client that sends a request head, the start of its body, then one byte of the
    rest every ``pause`` seconds: a slow-body (slow POST) attacker."""

    def __init__(self, url: str, rest: int, pause: float) -> None:
        self.sock = connect(url)
        self.sock.sendall(
            b"POST /auth/jwt HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: " + str(len(START) + rest).encode() + b"\r\n\r\n" + START
        )
        self.unsent, self._pause = rest, pause
        self._thread = threading.Thread(target=self._dribble, daemon=True)
        self._thread.start()

    def _dribble(self) -> None:
        while self.unsent:
            time.sleep(self._pause)
            try:
                self.sock.send(b"x")
            except OSError:  # the server closed the connection
                return
            self.unsent -= 1

    def answer(self) -> tuple[bytes, bytes]:
        """The head and body of the server's answer (read by its Content-Length)."""
        data = b""
        while b"\r\n\r\n" not in data:
            data += self.sock.recv(4096)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])
        while len(body) < length:
            body += self.sock.recv(4096)
        return head, body

    def wait_closed(self) -> int:
        """Read until the server closes the connection; the bytes still unsent then."""
        with contextlib.suppress(ConnectionResetError):
            while self.sock.recv(4096):
                pass
        return self.unsent

    def close(self) -> None:
        self.unsent = 0
        self.sock.close()
        self._thread.join()


START = b"grant_type=client_"


def test_slow_bodies_get_408_and_give_their_connections_back(tmp_path):
    """A slow-body client gets 408 with ``Connection: close``, and the server closes
    its connection soon after, while the client is still sending: it does not read the
    rest of the body for aiohttp's default 10 s of lingering, so slow clients cannot
    keep every ``--max-connections`` slot past their 408.

    Each client would finish its body about 8 s after its head, sooner than aiohttp's
    default lingering, so the server must close first for the test to pass."""
    limit = 3
    args = ("--body-timeout", "1", "--max-connections", str(limit))
    with serving(manifests(tmp_path), tmp_path / "s", *args) as (url, _):
        slow = [Dribbler(url, rest=80, pause=0.1) for _ in range(limit)]
        with connect(url) as extra:  # they hold every slot
            assert read_all(extra).startswith(b"HTTP/1.1 503 ")
        for client in slow:
            head, body = client.answer()
            assert head.startswith(b"HTTP/1.1 408 ")
            assert b"Connection: close" in head
            assert json.loads(body)["error"] == "invalid_request"
        # The server closed every one while it still had body to send ...
        assert all(client.wait_closed() > 0 for client in slow)
        # ... and their slots are free for others.
        eventually(lambda: _healthy(url))
        for client in slow:
            client.close()


def test_a_client_still_sending_reads_its_refusal(tmp_path):
    """A refusal that comes before the body was read (413 on Content-Length, 400 on the
    Content-Type, 404) reaches a client still sending a large body: the server reads
    the rest of it before closing, instead of resetting the connection under the
    client. ``http.client`` sends the whole body before it reads the answer and fails
    on a reset, as many clients do."""
    refused = [
        ("/auth/jwt", "application/x-www-form-urlencoded", 413, "invalid_request"),
        ("/auth/jwt", "text/plain", 400, "invalid_request"),
        ("/nowhere", "application/x-www-form-urlencoded", 404, "not_found"),
    ]
    body = b"x" * 4_000_000  # more than the socket buffers hold: still sending at the answer
    with serving(manifests(tmp_path), tmp_path / "s") as (url, _):
        port = int(url.rsplit(":", 1)[1])
        for path, content_type, status, error in refused:
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=NEVER)
            client.request("POST", path, body=body, headers={"Content-Type": content_type})
            answer = client.getresponse()
            assert (answer.status, json.loads(answer.read())["error"]) == (status, error)
            client.close()


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
