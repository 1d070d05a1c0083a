"""Read a folder of manifests, keeping each object's last good version.

Every ``*.yaml``/``*.yml`` file under the folder (multi-document, ``kind: List``
unpacked). Other kinds are ignored. An invalid edit of an object is reported
with file, document index and field, and the object's previous version stays
("the last good configuration keeps serving" holds per object: docs/reference.md).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gatekey.operator.model import ManifestError, Resource, parse_document, resource_key

Key = tuple[str, str, str]
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Loaded:
    """The resources in force, and what was wrong this time."""

    resources: dict[Key, Resource]
    errors: tuple[ManifestError, ...]


class ManifestFolder:
    """A folder of manifests, re-read on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._last_good: dict[Key, Resource] = {}
        self._keys_by_file: dict[str, set[Key]] = {}

    def files(self) -> list[Path]:
        """The manifest files, in a stable order; hidden files and folders are skipped
        (a ConfigMap volume keeps its data twice, under ``..data`` and ``..<timestamp>``)."""
        return sorted(
            p
            for p in self.root.rglob("*")
            if p.suffix in SUFFIXES
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(self.root).parts)
        )

    def load(self) -> Loaded:
        resources: dict[Key, Resource] = {}
        errors: list[ManifestError] = []
        keys_by_file: dict[str, set[Key]] = {}
        fresh: set[Key] = set()
        for path in self.files():
            name = str(path.relative_to(self.root))
            try:
                documents = list(yaml.safe_load_all(path.read_text()))
            except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
                errors.append(ManifestError(name, "-", "", f"cannot read: {_reason(exc)}"))
                keys_by_file[name] = self._keys_by_file.get(name, set())
                for kept in keys_by_file[name]:
                    if kept in self._last_good:
                        resources.setdefault(kept, self._last_good[kept])
                continue
            keys = keys_by_file.setdefault(name, set())
            for index, doc in _documents(documents):
                key = resource_key(doc)
                try:
                    resource = parse_document(doc, name, index)
                except ManifestError as error:
                    errors.append(error)
                    if key is not None and key in self._last_good:
                        resources.setdefault(key, self._last_good[key])
                        keys.add(key)
                    continue
                if resource is None or key is None:
                    continue
                if key in fresh:
                    errors.append(
                        ManifestError(
                            name,
                            index,
                            "metadata.name",
                            f"{key[0]} {key[1]}/{key[2]} is defined twice",
                        )
                    )
                    continue
                resources[key] = resource
                fresh.add(key)
                keys.add(key)
        self._last_good = resources
        self._keys_by_file = keys_by_file
        return Loaded(dict(resources), tuple(errors))


def _documents(documents: list[Any]) -> Iterator[tuple[str, Any]]:
    """Documents with their index; the items of a ``kind: List`` are numbered ``i.j``."""
    for i, doc in enumerate(documents):
        if (
            isinstance(doc, dict)
            and doc.get("kind") == "List"
            and isinstance(doc.get("items"), list)
        ):
            for j, item in enumerate(doc["items"]):
                yield f"{i}.{j}", item
        else:
            yield str(i), doc


def _reason(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    return f"{problem} at line {mark.line + 1}" if mark is not None else str(problem)
