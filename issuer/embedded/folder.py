"""Read a folder of manifests; an invalid edit fails closed where it could take access away.

Every ``*.yaml``/``*.yml`` file under the folder (multi-document, ``kind: List``
unpacked). Other kinds are ignored. A bad file or document is reported with its
file (document index and field where there is one) and never stops the others
from loading: :mod:`.reading` contains files that are too large, not text, nested
too deeply or full of aliases.

What an invalid new version of an object does (the rule in docs/reference.md):

- an AuthPolicy keeps its last good version: it says how tokens are made, and the
  client ids it serves must not change because of a typo;
- a Credential, Role or Secret (a user pool, a pre-set key) stops counting until
  it is fixed: its edit may have been the one that took access away (a Credential
  disabled, a subject removed from a Role, a user removed from a pool), so its
  previous version must not keep granting. The same holds for the objects of a file
  that cannot be read at all.
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekey.issuer.embedded.reading import UnreadableFile, parse_documents, read_bytes
from gatekey.operator.model import ManifestError, Resource, parse_document, resource_key

Key = tuple[str, str, str]
SUFFIXES = (".yaml", ".yml")
KEEPS_LAST_GOOD = frozenset({"AuthPolicy"})
"""Kinds whose last good version serves while a newer one is invalid (module docstring)."""


@dataclass(frozen=True)
class Loaded:
    """The resources in force, and what was wrong this time."""

    resources: dict[Key, Resource]
    errors: tuple[ManifestError, ...]
    kept: frozenset[Key] = frozenset()
    """Objects whose new version is invalid and whose last good version serves."""
    withheld: frozenset[Key] = frozenset()
    """Objects whose new version is invalid and that no longer count (fail closed)."""


class ManifestFolder:
    """A folder of manifests, re-read on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._last_good: dict[Key, Resource] = {}
        self._keys_by_file: dict[str, set[Key]] = {}
        self._parsed: dict[str, tuple[str, list[Any] | UnreadableFile]] = {}
        """Per file: the digest of its bytes and what they parsed to. PyYAML is pure
        Python here (about 100 KB/s): a rebuild re-parses only the files that changed."""

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
        invalid: set[Key] = set()
        parsed: dict[str, tuple[str, list[Any] | UnreadableFile]] = {}
        for path in self.files():
            name = str(path.relative_to(self.root))
            try:
                documents = self._documents_of(path, name, parsed)
            except UnreadableFile as exc:
                errors.append(ManifestError(name, "-", "", str(exc)))
                keys_by_file[name] = self._keys_by_file.get(name, set())
                invalid |= keys_by_file[name]
                continue
            keys = keys_by_file.setdefault(name, set())
            for index, doc in _documents(documents):
                key = resource_key(doc)
                try:
                    resource = parse_document(doc, name, index)
                except ManifestError as error:
                    errors.append(error)
                    if key is not None:
                        invalid.add(key)
                        keys.add(key)
                    continue
                except Exception as exc:  # whatever a strange document does, it stays in it
                    errors.append(
                        ManifestError(name, index, "", f"cannot be read: {type(exc).__name__}")
                    )
                    if key is not None:
                        invalid.add(key)
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
        kept = set()
        for key in invalid - fresh:
            if key[0] in KEEPS_LAST_GOOD and key in self._last_good:
                resources[key] = self._last_good[key]
                kept.add(key)
        self._last_good = resources
        self._keys_by_file = keys_by_file
        self._parsed = parsed
        return Loaded(
            dict(resources), tuple(errors), frozenset(kept), frozenset(invalid - fresh - kept)
        )

    def _documents_of(
        self, path: Path, name: str, parsed: dict[str, tuple[str, list[Any] | UnreadableFile]]
    ) -> list[Any]:
        """The file's documents, parsed again only when its bytes changed; raises
        :class:`UnreadableFile` (remembered too: a bad file costs its parse once)."""
        data = read_bytes(path)
        digest = hashlib.sha256(data).hexdigest()
        found = self._parsed.get(name)
        if found is None or found[0] != digest:
            try:
                found = (digest, parse_documents(data))
            except UnreadableFile as exc:
                found = (digest, exc)
        parsed[name] = found
        if isinstance(found[1], UnreadableFile):
            raise found[1]
        return found[1]  # read only: parsing never changes a document

    def file_of(self, key: Key) -> str:
        """The file the object ``key`` was read from at the last load ("" if none)."""
        return next((f for f, keys in self._keys_by_file.items() if key in keys), "")


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
