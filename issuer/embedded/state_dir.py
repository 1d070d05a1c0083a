"""The state dir: generated client secrets and signing keys, so a restart keeps them.

Files are written with mode 0600 in a 0700 folder, atomically (write, then
rename). Never passwords, opaque tokens or refresh tokens (docs/contract.md).

One ``gatekey serve`` (with its workers) owns a state dir at a time when the tokens live
in it (the SQLite default): :meth:`StateDir.claim` takes a lock for the life of the
process before anything else is done, so that a second server on the same dir stops
with one line instead of racing the first. Replicas sharing a Redis store may share a
state dir: they take the lock shared, and a server on SQLite then refuses to join.
"""

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


class StateDirError(Exception):
    """The state dir cannot be used; the message is the one line the user sees."""


class StateDir:
    """``<root>/secrets/<namespace>/<name>.json``: a generated Secret's values."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def store_path(self) -> Path:
        """Where the SQLite token store lives by default."""
        return self.root / "tokens.db"

    def claim(self, *, exclusive: bool = True) -> IO[str]:
        """Lock the state dir for this process (released when the process ends).

        ``exclusive=False`` only checks that the dir can be written: replicas sharing a
        Redis store may share a state dir (and so their generated keys). Raises
        :class:`StateDirError` when the dir cannot be created or written, or when
        another process holds it exclusively."""
        where = str(self.root)
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            handle = open(self.root / ".serve.lock", "a+")  # noqa: SIM115 (held until exit)
        except OSError as exc:
            raise StateDirError(
                f"the state dir {where} is not writable ({exc.strerror or exc}): "
                "choose another with --state-dir (GATEKEY_STATE_DIR)"
            ) from None
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StateDirError(
                f"the state dir {where} is in use by another gatekey serve (pid {holder}): "
                "stop it, or give this one its own --state-dir"
            ) from None
        if exclusive:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        return handle

    @contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive lock on the state dir (``flock``), held for one build."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.root / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def secrets(self) -> dict[tuple[str, str], dict[str, str]]:
        """Every saved Secret by ``(namespace, name)``."""
        found: dict[tuple[str, str], dict[str, str]] = {}
        base = self.root / "secrets"
        if not base.is_dir():
            return found
        for path in sorted(base.glob("*/*.json")):
            values = json.loads(path.read_text())
            if isinstance(values, dict):
                found[(path.parent.name, path.stem)] = {str(k): str(v) for k, v in values.items()}
        return found

    def save(self, namespace: str, name: str, values: dict[str, str]) -> None:
        folder = self.root / "secrets" / namespace
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for private in (self.root, folder.parent, folder):
            os.chmod(private, 0o700)
        target = folder / f"{name}.json"
        temporary = folder / f".{name}.json.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(values, out, sort_keys=True)
        os.replace(temporary, target)

    def delete(self, namespace: str, name: str) -> None:
        (self.root / "secrets" / namespace / f"{name}.json").unlink(missing_ok=True)
