"""One replica of a client, as its own process: requests tokens back to back with the secret
in a file (as a mounted Secret volume holds it), re-read before every request, until a stop
file appears. It writes what came of its requests to a JSON report (atomically, a few times
a second): successes and failures per secret (keyed by a digest, never the value), and the
first failures' status and body.

Run as ``python rotation_client.py URL PATH CLIENT_ID SECRET_FILE REPORT STOP``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import requests


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def _write(report: Path, state: dict[str, object]) -> None:
    partial = report.with_suffix(".partial")
    partial.write_text(json.dumps(state))
    os.replace(partial, report)


def main(url: str, path: str, client_id: str, secret_file: str, report: str, stop: str) -> None:
    ok: dict[str, int] = {}
    failed: dict[str, int] = {}
    failures: list[str] = []
    state: dict[str, object] = {"ok": ok, "failed": failed, "failures": failures, "done": False}
    written = 0.0
    with requests.Session() as session:
        session.trust_env = False
        while not os.path.exists(stop):
            secret = Path(secret_file).read_text()
            key = digest(secret)
            try:
                answer = session.post(
                    url + path,
                    timeout=10,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": client_id,
                        "client_secret": secret,
                    },
                )
                good = answer.status_code == 200
                why = f"{answer.status_code} {answer.text[:200]}"
            except requests.RequestException as exc:
                good, why = False, repr(exc)[:200]
            if good:
                ok[key] = ok.get(key, 0) + 1
            else:
                failed[key] = failed.get(key, 0) + 1
                if len(failures) < 20:
                    failures.append(why)
            if time.monotonic() - written > 0.1:
                _write(Path(report), state)
                written = time.monotonic()
    state["done"] = True
    _write(Path(report), state)


if __name__ == "__main__":
    main(*sys.argv[1:7])
