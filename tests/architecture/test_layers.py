"""The import-layer contract that `make lint` runs refuses an import against the layers.

Each test copies the packages into a temporary tree, optionally adds one
offending module, and runs import-linter there with the project's own contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "schema", "connectors", "registry", "domain", "fixtures")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "static", "*.pyc")
        )
    return root


def test_main_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        ("domain/_offender.py", "import gateway.app\n", "Data flows one way"),
        ("connectors/_offender.py", "from schema import types\n", "Data flows one way"),
        ("registry/_offender.py", "import connectors.pipeline\n", "Data flows one way"),
        ("schema/_offender.py", "import fixtures.world\n", "Only tests, bench"),
    ],
)
def test_a_back_edge_breaks_the_contract(tree: Path, module: str, source: str, contract: str) -> None:
    offender = tree / module
    offender.write_text(source, encoding="utf-8")
    try:
        result = lint_imports(tree)
    finally:
        offender.unlink()
    assert result.returncode != 0
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout
