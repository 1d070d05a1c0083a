"""Shared fixtures; and under CI=true, a skipped test fails the run."""

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from gatekey.issuer.settings import IssuerSettings
from tests.support.issuer import RunningIssuer, running_issuer, write_manifests

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

StartIssuer = Callable[..., RunningIssuer]


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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """CI installs every tool the tests need: there, a skip means something is missing."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped:
        reporter.write_line(
            f"CI=true: {skipped} test(s) skipped; every test must run in CI", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
