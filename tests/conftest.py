"""Shared fixtures; the tests' groups for pytest-xdist; and under CI=true, a skipped test
fails the run."""

import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from _pytest.nodeid import NodeId

from gatekey.issuer.settings import IssuerSettings
from tests.support.issuer import RunningIssuer, running_issuer, write_manifests

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

StartIssuer = Callable[..., RunningIssuer]

# `make test` runs on pytest-xdist workers with --dist loadscope, and the scheduler below:
# each group of tests runs whole on one worker, so that what its tests share starts once.
# A test module is a group (its module-scoped fixtures); these packages are one group each,
# for their session- or package-scoped fixtures: the real control plane (and the image and
# helm run against it) and the gateways with their issuers. They come first: the longest
# group starts at once, the other workers take the rest in turn.
# (Not xdist's `loadgroup` and `xdist_group` marks: xdist 3.8 tags the ids through
# `item._nodeid`, which pytest 9.2's structured node ids no longer read.)
PACKAGE_GROUPS = ("realkube", "gateways")


def xdist_group(nodeid: str) -> str:
    """A test's group: its module (``tests/x/test_y.py``), or its package in PACKAGE_GROUPS."""
    module = nodeid.split("::", 1)[0]
    parts = module.split("/")
    if len(parts) > 2 and parts[1] in PACKAGE_GROUPS:
        return "/".join(parts[:2])
    return module


@pytest.fixture
def start_issuer(tmp_path: Path) -> Iterator[StartIssuer]:
    """Start an issuer on the given manifests: ``start_issuer(doc, doc, ..., settings=...)``."""
    with ExitStack() as stack:
        count = 0

        def start(
            *documents: dict[str, Any] | str, settings: IssuerSettings | None = None
        ) -> RunningIssuer:
            nonlocal count
            count += 1
            folder = tmp_path / f"manifests-{count}"
            write_manifests(folder, *documents)
            return stack.enter_context(
                running_issuer(folder, tmp_path / f"state-{count}", settings)
            )

        yield start


@pytest.hookimpl(optionalhook=True)  # an xdist hook: absent with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unique_ids(items)
    # A stable sort: within a group, pytest's order (fixture parameters kept together).
    first = {f"tests/{name}": rank for rank, name in enumerate(PACKAGE_GROUPS)}
    items.sort(key=lambda item: first.get(xdist_group(item.nodeid), len(first)))


def unique_ids(items: list[pytest.Item]) -> None:
    """One id per test: xdist sends tests to workers by id, and runs one test of those that
    share an id. schemathesis 4.32 names each operation's test ``test_x[POST /path]`` but
    pytest 9.2 gives them all the id ``...::test_x``: the name becomes the id."""
    seen = Counter(item.nodeid for item in items)
    for item in items:
        if seen[item.nodeid] > 1 and item.parent is not None:
            item._id = NodeId.parse(f"{item.parent.nodeid}::{item.name}")
    repeated = [nodeid for nodeid, count in Counter(i.nodeid for i in items).items() if count > 1]
    if repeated:
        raise pytest.UsageError(f"tests share an id (xdist would run one of each): {repeated}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """CI installs every tool the tests need: there, a skip means something is missing."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped:
        reporter.write_line(
            f"CI=true: {skipped} test(s) skipped; every test must run in CI", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
