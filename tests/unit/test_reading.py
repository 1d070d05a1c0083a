"""One manifest file's YAML within limits: depth, aliases, size, text (``reading``)."""

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekey.issuer.embedded.reading import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    UnreadableFile,
    parse_documents,
)


def outcome(data: bytes) -> list[object] | str:
    """The documents, or the reason (never empty) why there are none; nothing else escapes."""
    try:
        return parse_documents(data)
    except UnreadableFile as exc:
        return str(exc)


def reason(data: bytes) -> str:
    with pytest.raises(UnreadableFile) as caught:
        parse_documents(data)
    return str(caught.value)


def test_ordinary_documents_and_a_byte_order_mark():
    text = "\ufeffapiVersion: v1\nkind: Secret\n---\n- 1\n---\n"
    assert parse_documents(text.encode()) == [{"apiVersion": "v1", "kind": "Secret"}, [1], None]


def test_anchors_and_merge_keys_within_limits_load():
    data = b"a: &a {x: 1}\nb: {<<: *a, y: 2}\nc: [*a, *a]\n"
    assert parse_documents(data) == [
        {"a": {"x": 1}, "b": {"x": 1, "y": 2}, "c": [{"x": 1}, {"x": 1}]}
    ]


@pytest.mark.parametrize("opening", ["[", "{a: ", "- "])
def test_nesting_is_capped(opening):
    deep = (opening * 20_000).encode()
    assert f"nested more than {MAX_DEPTH}" in reason(deep)
    depth_ok = opening * (MAX_DEPTH - 1) + "x"
    if opening == "- ":
        depth_ok = (
            "".join(f"{'  ' * i}-\n" for i in range(MAX_DEPTH - 1)) + "  " * (MAX_DEPTH - 1) + "x\n"
        )
    else:
        depth_ok += {"[": "]", "{a: ": "}"}[opening] * (MAX_DEPTH - 1)
    assert parse_documents(depth_ok.encode())


def test_nesting_through_aliases_is_capped():
    lines = ["a0: &a0 [x]"]
    lines += [f"a{i}: &a{i} {'[' * 60}*a{i - 1}{']' * 60}" for i in range(1, 5)]
    assert "through aliases" in reason("\n".join(lines).encode())


def test_billion_laughs_is_refused_and_a_loop_too():
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    assert f"more than {MAX_ALIAS_NODES} nodes" in reason("\n".join(bomb).encode())
    assert "contains it" in reason(b"a: &a [*a]\n")
    assert "contains it" in reason(b"a: &a {b: *a}\n")


def test_size_text_and_tags():
    assert "larger than" in reason(b"#" * (MAX_FILE_BYTES + 1))
    assert "not UTF-8 text (byte 0)" in reason(b"\xff\xfe")
    assert "control character" in reason(b"kind: Role\x00\n")
    assert "not YAML" in reason(b"!!python/object/apply:os.system [echo]\n")
    assert "ValueError" in reason(b"a: " + b"9" * 5000 + b"\n")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_documents_or_one_clear_reason(data):
    result = outcome(data)
    assert isinstance(result, list) or result.strip()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="[]{}-:&*ab ,\n", max_size=300))
def test_any_structure_gives_documents_or_one_clear_reason(text):
    result = outcome(text.encode())
    if not isinstance(result, str):
        assert result == list(yaml.safe_load_all(text))
