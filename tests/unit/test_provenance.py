"""Provenance annotations: written by render, read by the planner (one format)."""

from gatekey.operator import contract
from gatekey.operator.provenance import add_source, sources

KIND, NAME = contract.SOURCE_KIND_ANNOTATION, contract.SOURCE_NAME_ANNOTATION


def test_sources_are_parallel_lists_each_named_once():
    notes: dict[str, str] = {}
    for kind, name in [("AuthPolicy", "jwt"), ("AuthPolicy", "token"), ("AuthPolicy", "jwt")]:
        add_source(notes, kind, name)
    assert notes == {KIND: "AuthPolicy,AuthPolicy", NAME: "jwt,token"}
    assert sources(notes) == {("AuthPolicy", "jwt"), ("AuthPolicy", "token")}


def test_the_shared_kind_earlier_versions_wrote_still_reads_whole():
    # One kind for two names: both sources, not only the first.
    old = {KIND: "AuthPolicy", NAME: "jwt,token"}
    assert sources(old) == {("AuthPolicy", "jwt"), ("AuthPolicy", "token")}
    add_source(old, "Credential", "c")
    assert sources(old) == {("AuthPolicy", "jwt"), ("AuthPolicy", "token"), ("Credential", "c")}


def test_no_annotations_no_sources():
    assert sources(None) == frozenset()
    assert sources({KIND: "Credential"}) == frozenset()
