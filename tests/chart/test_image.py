"""The Dockerfile, read as text (tests/realkube/test_image.py builds and runs the image).

What is checked here, in a second: the instructions the chart relies on (the `gatekey` entrypoint, a
numeric non-root user, the state dir), and the build stage's wheel, built from exactly the
files the Dockerfile copies after .dockerignore, which must hold every package of Gatekey.
"""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    kept = [line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(kept))
    found = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression (Go's filepath.Match, plus ``**``)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(relative: str) -> bool:
    """Whether .dockerignore keeps ``relative`` out of the build context. Docker's rules: a
    pattern matches a path or any of its parent folders; the last matching pattern wins."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for line in (line.strip() for line in lines):
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        regex = _regex(line.removeprefix("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negate
    return result


def test_the_image_instructions() -> None:
    steps = instructions()
    froms = [args for word, args in steps if word == "FROM"]
    assert froms[0] == "${BUILD_IMAGE} AS build"
    assert froms[-1] == "${PYTHON_IMAGE}"
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in steps
    assert ("ARG", "BUILD_IMAGE=${PYTHON_IMAGE}") in steps
    assert steps[-1] == ("CMD", '["--help"]')
    assert ("ENTRYPOINT", '["gatekey"]') in steps
    # The last USER is numeric (runAsNonRoot can check it) and not root.
    user = [args for word, args in steps if word == "USER"][-1]
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user), user
    assert user.split(":")[0] == "10001"  # the chart's runAsUser
    assert ("WORKDIR", "/var/lib/gatekey") in steps  # the chart mounts its emptyDir there


def test_the_build_context_keeps_out_local_state() -> None:
    for path in (
        ".gatekey/secrets/default/x.json",
        ".venv/bin/python",
        ".git/config",
        ".cache/tools/helm",
        "tests/conftest.py",
        "charts/gatekey/values.yaml",
        "operator/__pycache__/render.cpython-311.pyc",
        "issuer/kube/__pycache__/watch.cpython-311.pyc",
    ):
        assert ignored(path), path
    for path in ("pyproject.toml", "README.md", "operator/__init__.py", "issuer/kube/watch.py"):
        assert not ignored(path), path


def test_the_wheel_the_image_installs_has_every_package(tmp_path: Path) -> None:
    """`pip wheel .` on the files the build stage copies (after .dockerignore) gives a wheel with
    every package of operator/ and issuer/ and the `gatekey` command."""
    context = tmp_path / "context"
    copies = [
        args.split() for word, args in instructions() if word == "COPY" and "--from" not in args
    ]
    assert copies, "the build stage copies nothing"
    for *sources, _destination in copies:
        for source in sources:
            for path in (
                sorted((ROOT / source).rglob("*")) if (ROOT / source).is_dir() else [ROOT / source]
            ):
                relative = path.relative_to(ROOT).as_posix()
                if path.is_file() and not ignored(relative):
                    (context / relative).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, context / relative)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{done.stderr[-2000:]}")
    (wheel,) = (tmp_path / "wheels").glob("gatekey-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "gatekey = gatekey.issuer.cli:main" in archive.read(entry_points).decode()
    packages = {
        f"gatekey/{init.parent.relative_to(ROOT).as_posix()}/__init__.py"
        for folder in ("operator", "issuer")
        for init in (ROOT / folder).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    missing = sorted(packages - names)
    assert missing == [], (
        f"packages missing from the wheel (pyproject.toml [tool.setuptools] packages): {missing}"
    )
