"""One manifest file -> its YAML documents, or one clear reason why it cannot be used.

A file in the manifest folder is untrusted input: whatever is wrong with it must
stay within it, so that every other file keeps loading. The limits:

- at most :data:`MAX_FILE_BYTES` per file (the largest Kubernetes object is 1.5 MiB;
  a folder of many objects may split them over several files);
- UTF-8 text (YAML 1.2 §5.2; a byte-order mark is allowed), no control characters;
- at most :data:`MAX_DEPTH` levels of nested mappings and sequences, aliases followed
  (a manifest nests about ten; Python's own recursion would otherwise end the process
  or the whole rebuild);
- aliases may add at most :data:`MAX_ALIAS_NODES` nodes to a document, and may not
  refer to themselves ("billion laughs": a few lines that expand to 10^9 nodes; the
  same rule as go-yaml's alias ratio, which the API server applies to YAML bodies).

Only PyYAML's safe loader (pure Python: its composer is where depth is counted).
"""

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode
from yaml.reader import ReaderError

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 100
MAX_ALIAS_NODES = 100_000


class UnreadableFile(Exception):
    """A manifest file that cannot be used at all; the message says why (never its content)."""


def read_documents(path: Path) -> list[Any]:
    """The documents of the file at ``path``; raises :class:`UnreadableFile`."""
    return parse_documents(read_bytes(path))


def read_bytes(path: Path) -> bytes:
    """The file's bytes, at most one more than the limit (so that size is checked, not
    trusted from ``stat``: the file may grow meanwhile)."""
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UnreadableFile(f"cannot be read: {exc.strerror or type(exc).__name__}") from None


def parse_documents(data: bytes) -> list[Any]:
    """The YAML documents in ``data``, within the limits of the module docstring."""
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableFile(f"larger than {MAX_FILE_BYTES} bytes, the limit per file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not UTF-8 text (byte {exc.start})") from None
    try:
        return _load(text)
    except UnreadableFile:
        raise
    except ReaderError as exc:
        raise UnreadableFile(f"not text: a control character at offset {exc.position}") from None
    except yaml.YAMLError as exc:
        raise UnreadableFile(f"not YAML: {_reason(exc)}") from None
    except RecursionError:
        raise UnreadableFile(f"nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, TypeError, OverflowError, MemoryError) as exc:
        # A scalar Python refuses (an integer of 5,000 digits) and the like.
        raise UnreadableFile(f"cannot be loaded: {type(exc).__name__}") from None


def _load(text: str) -> list[Any]:
    loader = _Loader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            _check_expansion(node)
            documents.append(loader.construct_document(node))
        return documents
    finally:
        loader.dispose()


class _Loader(yaml.SafeLoader):
    """The safe loader, counting how deeply nodes nest while composing them."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise UnreadableFile(
                    f"nested more than {MAX_DEPTH} levels deep (line {mark.line + 1})"
                )
            node = super().compose_node(parent, index)
            assert node is not None  # compose_node is called only where a node starts
            return node
        finally:
            self._depth -= 1


def _check_expansion(root: Node) -> None:
    """Reject a document whose aliases expand it too much, nest it too deeply, or loop.

    Iterative, and each node is measured once however often aliases repeat it.
    """
    measured: dict[int, tuple[int, int]] = {}  # id -> (nodes when expanded, depth)
    open_: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in measured:
            continue
        children = _children(node)
        if children_done:
            open_.discard(key)
            sizes = [measured[id(c)] for c in children]
            count = 1 + sum(s[0] for s in sizes)
            depth = 1 + max((s[1] for s in sizes), default=0)
            if depth > MAX_DEPTH:
                raise UnreadableFile(f"nested more than {MAX_DEPTH} levels deep through aliases")
            measured[key] = (count, depth)
            if count - len(measured) > MAX_ALIAS_NODES:
                raise UnreadableFile(
                    f"aliases expand it by more than {MAX_ALIAS_NODES} nodes (a YAML alias bomb?)"
                )
            continue
        if key in open_:
            raise UnreadableFile("an alias refers to a node that contains it")
        open_.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in measured)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _reason(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    return f"{problem} at line {mark.line + 1}" if mark is not None else str(problem)
