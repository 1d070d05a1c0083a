"""The error every bad manifest becomes: where it is, and what is wrong."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ManifestError(Exception):
    """A manifest that cannot be used, located by file, document index and field path.

    ``index`` counts documents from 0 within the file (``kind: List`` items are
    numbered ``i.j``); ``path`` is a dotted field path such as ``spec.token.ttl``.
    """

    source: str
    index: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}[{self.index}]"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
