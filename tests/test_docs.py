"""The documentation stands alone: every link in README.md and docs/ resolves inside the
repository, nothing points at files outside it, ``gatekey --help`` reads as plain text,
and the README's examples are what ``make run`` prints and they work."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.process import GATEKEY, gatekey, serving

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|^\[[^\]]+\]:\s*(\S+)", re.M)
CURL_LINES = ROOT / "examples" / "quickstart" / "curl_lines.py"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.+)$", text, re.M)}


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [m.group(1) or m.group(2) for m in LINK.finditer(text)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_resolves_inside_the_repository(page):
    found = links(page)
    assert found or page.name in ("performance.md",), f"{page.name}: no links found"
    for link in found:
        assert "://" not in link, f"{page.name}: {link} leaves the repository"
        assert not link.startswith("mailto:"), f"{page.name}: {link} leaves the repository"
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.is_relative_to(ROOT), f"{page.name}: {link} points outside the repository"
        assert target.exists(), f"{page.name}: {link} does not exist"
        if anchor:
            assert target.suffix == ".md", f"{page.name}: {link}: anchor on a non-page"
            assert anchor in anchors(target), f"{page.name}: {link}: no such heading"


def tracked_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / n for n in names if (ROOT / n).is_file()]


OUTSIDE = re.compile(r"\.\./shared|DESIGN(\.md| §)")
"""References to the design notes that live beside the repository, not in it."""


def test_nothing_refers_to_documents_outside_the_repository():
    pattern = OUTSIDE
    offenders = []
    for path in tracked_files():
        if path == Path(__file__):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{n}"
            for n, line in enumerate(text.splitlines(), 1)
            if pattern.search(line)
        ]
    assert offenders == []


@pytest.mark.parametrize("command", [[], ["serve"], ["operator"], ["render"], ["show-key"]])
def test_help_is_plain_text_and_points_inside(command):
    shown = subprocess.run(
        [GATEKEY, *command, "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "``" not in shown
    assert "DESIGN" not in shown
    assert OUTSIDE.search(shown) is None
    if not command:
        assert "docs/reference.md" in shown


def placeholders() -> str:
    return subprocess.run(
        [sys.executable, str(CURL_LINES), "--placeholders"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_the_readme_shows_what_make_run_prints():
    readme = (ROOT / "README.md").read_text()
    assert "```sh\n" + placeholders() + "```" in readme


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is missing")
def test_the_printed_lines_work_against_the_quickstart(tmp_path):
    manifests, state = tmp_path / "quickstart", tmp_path / "state"
    shutil.copytree(CURL_LINES.parent, manifests, ignore=shutil.ignore_patterns("*.py"))

    def key(target):
        shown = gatekey(
            "show-key", "--manifests", str(manifests), "--state-dir", str(state), target
        )
        return json.loads(shown.stdout)

    proxy, cred = key("ApiProxy/orders"), key("Credential/billing-service")
    with serving(manifests, state) as (url, _):
        script = placeholders().replace("http://127.0.0.1:8080", url)
        for name, value in [
            ("<proxy_client_id>", proxy["client_id"]),
            ("<proxy_client_secret>", proxy["client_secret"]),
            ("<cred_client_id>", cred["client_id"]),
            ("<cred_client_secret>", cred["client_secret"]),
        ]:
            script = script.replace(name, value)
        done = subprocess.run(
            [
                "bash",
                "-euo",
                "pipefail",
                "-c",
                re.sub(r"curl -s(i?) ", r"curl -sS\1 -w '\\n' ", script),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    answers = [a.strip() for a in done.stdout.splitlines()]
    assert not [a for a in answers if '"error"' in a], done.stdout
    assert sum('"access_token"' in a for a in answers) == 7  # six grants and regenerate
    assert "HTTP/1.1 200 OK" in answers  # /authz
    assert any('"active":true' in a for a in answers)  # introspection
    assert "{}" in answers  # revocation
    assert any(a.startswith('{"issuer": "' + url + '/auth"') for a in answers)  # metadata
    assert any(a.startswith('{"keys": [') for a in answers)  # JWKS
