"""The state dir: generated client secrets and signing keys, so a restart keeps them.

Files are written with mode 0600 in a 0700 folder, atomically (write, then
rename). Never passwords, opaque tokens or refresh tokens (DESIGN §8).
"""

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class StateDir:
    """``<root>/secrets/<namespace>/<name>.json``: a generated Secret's values."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def store_path(self) -> Path:
        """Where the SQLite token store lives by default."""
        return self.root / "tokens.db"

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
