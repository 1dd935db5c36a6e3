"""``onematter connector new NAME``: the skeleton is complete and its contract tests pass as written."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from connectors.scaffold import Names, add_arguments, render, run


def new(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args(list(argv)))


def test_names() -> None:
    names = Names.of("environment_assessment", "生态环境局")
    assert names.module == "onematter_environment_assessment"
    assert names.dist == "onematter-environment-assessment"
    assert names.cls == "EnvironmentAssessmentConnector"
    assert names.env == "ONEMATTER_ENVIRONMENT_ASSESSMENT_API_KEY"


@pytest.mark.parametrize("bad", ["Environment", "2env", "env-ironment", "", "a" * 41, "env;rm"])
def test_bad_names_are_refused(bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert new(bad, "--output", str(tmp_path / "out")) == 2
    assert "invalid connector name" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_skeleton_registers_its_entry_point() -> None:
    files = render(Names.of("environment", "生态环境局"))
    assert set(files) == {
        "pyproject.toml",
        "README.md",
        "onematter_environment/__init__.py",
        "onematter_environment/py.typed",
        "onematter_environment/connector.py",
        "onematter_environment/fixture.py",
        "onematter_environment/part.py",
        "tests/test_contract.py",
        "tests/test_part.py",
    }
    project = tomllib.loads(files["pyproject.toml"])
    assert project["project"]["entry-points"]["onematter.connectors"] == {
        "environment": "onematter_environment.connector:EnvironmentConnector"
    }
    for path, text in files.items():
        if path.endswith(".py"):
            compile(text, path, "exec")  # every module is valid Python
    connector = files["onematter_environment/connector.py"]
    assert 'title = "生态环境局"' in connector
    # Its part of a matter and its simulated system, named by import path (no GraphQL here).
    assert 'part = "onematter_environment.part:PART"' in connector
    assert 'simulator = "onematter_environment.fixture:simulator"' in connector
    assert "import strawberry" not in connector and "from schema" not in connector
    assert 'field="environment"' in files["onematter_environment/part.py"]


def test_a_non_empty_directory_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert new("environment", "--output", str(tmp_path)) == 2
    assert "not empty" in capsys.readouterr().err
    assert new("environment", "--output", str(tmp_path), "--force") == 0
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert (tmp_path / "onematter_environment" / "connector.py").exists()


def test_the_skeleton_passes_its_contract_tests_as_written(tmp_path: Path) -> None:
    out = tmp_path / "onematter-environment"
    assert new("environment", "--title", "生态环境局", "--output", str(out)) == 0
    env = {**os.environ, "PYTHONPATH": str(out)}
    env.pop("ONEMATTER_ENVIRONMENT_API_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "tests"],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "failed" not in result.stdout and " passed" in result.stdout


def test_the_onematter_command_writes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import main

    assert main(["connector", "new", "environment", "--output", str(tmp_path / "pkg")]) == 0
    assert "wrote 9 files" in capsys.readouterr().out
    assert (tmp_path / "pkg" / "tests" / "test_contract.py").exists()
