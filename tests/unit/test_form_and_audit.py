"""Form parsing's fast path against ``parse_qsl``, and the audit line's JSON (pure)."""

import io
import json
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekey.issuer import audit
from gatekey.issuer.errors import InvalidRequest
from gatekey.issuer.http.form import MAX_PARAMS, parse_params


def reference(text: str) -> dict[str, str] | str:
    """RFC 6749 §3.2 over ``parse_qsl``: what ``parse_params`` did before its fast path."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_PARAMS)
    except ValueError:
        return "refused"
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            return "refused"
        params[name] = value
    return {k: v for k, v in params.items() if v != ""}


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "=", "&", "==", "c=d", ";", "%41", "+", "é"])))
def test_parse_params_agrees_with_parse_qsl(parts):
    text = "".join(parts)
    try:
        found: dict[str, str] | str = parse_params(text)
    except InvalidRequest:
        found = "refused"
    assert found == reference(text)


def test_too_many_parameters_are_refused_on_both_paths():
    plain = "&".join(f"p{i}=1" for i in range(MAX_PARAMS + 1))
    assert len(parse_params(plain.rsplit("&", 1)[0])) == MAX_PARAMS
    for text in (plain, plain + "&q=%41"):
        with pytest.raises(InvalidRequest, match="more than"):
            parse_params(text)


def test_an_audit_line_with_other_than_ascii_keeps_json_escapes():
    stream = io.StringIO()
    saved = audit._sink, audit._format
    audit.configure(stream)
    try:
        entry = audit.AuditEntry(endpoint="/auth/token", source="10.0.0.1", username="zoë")
        audit.write(entry, 1_700_000_000.5)
        audit.write(audit.AuditEntry(endpoint="/auth/jwt", source=None), 1_700_000_001.0)
        audit._sink.flush()  # type: ignore[union-attr]
    finally:
        audit._sink, audit._format = saved
    first, second = stream.getvalue().splitlines()
    assert "\\u00eb" in first
    assert first.isascii()
    assert json.loads(first)["username"] == "zoë"
    assert json.loads(second) == {
        "time": 1_700_000_001.0,
        "logger": audit.LOGGER,
        **vars(audit.AuditEntry(endpoint="/auth/jwt", source=None)),
    }
    assert list(json.loads(second))[:3] == ["time", "logger", "endpoint"]
    # Both lines spell the time alike, to the millisecond, whatever their characters.
    assert first.startswith('{"time":1700000000.500,"logger":')
    assert second.startswith('{"time":1700000001.000,"logger":')
