"""The wheel holds every subpackage: the setuptools list in pyproject.toml is explicit
(``operator/`` and ``issuer/`` are mapped under ``gatekey``), so a new folder must be added."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_python_folder_is_a_listed_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        "gatekey." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("operator", "issuer")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found == listed


def test_stdlib_operator_is_not_shadowed():
    import operator

    assert hasattr(operator, "itemgetter")
