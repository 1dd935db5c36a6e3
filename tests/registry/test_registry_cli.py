"""``onematter registry`` commands, run in-process against a SQLite file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from registry_lists import delegation_list, write_list  # type: ignore[import-not-found]

from gateway.cli import main
from gateway.commands.registry._common import TerminalProgress


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_migrate_seed_and_export_coverage(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "migrate", "--database-url", url]) == 0
    assert "upgraded from empty to revision" in capsys.readouterr().out
    assert main(["registry", "migrate", "--database-url", url]) == 0
    assert "already at revision" in capsys.readouterr().out
    assert main(["registry", "seed", "--database-url", url]) == 0
    assert "358 items" in (seeded := capsys.readouterr().out) and "232 service catalogue items" in seeded
    assert main(["registry", "seed", "--database-url", url]) == 1
    assert "already holds 358 items" in capsys.readouterr().err

    assert main(["registry", "export", "coverage", "--format", "csv", "--database-url", url]) == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert table[0][0] == "生成时间" and table[1] == ["数据截至", "2023-03-15"] and table[2] == []
    assert table[4][:9] == ["合计", "", "合计", "346", "12", "12", "346", "346", "100.00%"]

    target = tmp_path / "coverage.xlsx"
    assert (
        main(
            [
                "registry",
                "export",
                "coverage",
                "--format",
                "xlsx",
                "--output",
                str(target),
                "--database-url",
                url,
            ]
        )
        == 0
    )
    sheet = load_workbook(target, read_only=True)["总览"]
    overview = {r[0]: r[1] for r in sheet.iter_rows(values_only=True) if len(r) > 1}
    assert overview["已承接到位"] == 346
    items = tmp_path / "items.csv"
    assert main(["registry", "export", "items", "--output", str(items), "--database-url", url]) == 0
    assert items.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as UTF-8
    assert len(items.read_text(encoding="utf-8-sig").splitlines()) == 3 + 359  # the notes, a blank line


def test_import_names_the_bad_row_and_changes_nothing(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "seed", "--reference-only", "--database-url", url]) == 0
    rows = delegation_list(1000)
    rows[710][5] = "衡阳市不存在局"
    bad = write_list(tmp_path / "bad.xlsx", rows)
    capsys.readouterr()
    assert main(["registry", "import", str(bad), "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert "row 714, 下放部门: unknown city bureau '衡阳市不存在局'" in err
    assert "nothing was imported" in err
    assert main(["registry", "export", "items", "--format", "csv", "--database-url", url]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4  # the notes, a blank line and the header
    rows[710][5] = "市资规局"
    rows[710][6] = "GTKJ"
    good = write_list(tmp_path / "good.xlsx", rows)
    assert main(["registry", "import", str(good), "--dry-run", "--database-url", url]) == 0
    assert "would import 1000 items" in capsys.readouterr().out
    assert main(["registry", "import", str(good), "--database-url", url]) == 0
    assert "imported 1000 items from 1000 rows" in capsys.readouterr().out


def test_the_database_defaults_to_the_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[registry]\ndatabase_url = "sqlite:///{tmp_path / "configured.db"}"\n', encoding="utf-8"
    )
    assert main(["registry", "migrate", "--config", str(config)]) == 0
    assert (tmp_path / "configured.db").exists()
    monkeypatch.setenv("ONEMATTER__REGISTRY__DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert main(["registry", "seed", "--reference-only"]) == 0
    assert (tmp_path / "env.db").exists()
    capsys.readouterr()
    assert main(["registry", "migrate", "--database-url", "mysql://db/x"]) == 1
    assert "unsupported registry database" in capsys.readouterr().err
    assert main(["registry", "migrate", "--config", str(tmp_path / "missing.toml")]) == 1
    assert "cannot read configuration file" in capsys.readouterr().err


def test_an_unreachable_database_is_one_line_without_the_url(capsys: pytest.CaptureFixture[str]) -> None:
    secret_url = "postgresql://auditor:s3cret@127.0.0.1:1/hub"
    assert main(["registry", "migrate", "--database-url", secret_url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("onematter registry: cannot reach the registry database")
    assert "s3cret" not in err and len(err.splitlines()) == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_only_on_a_terminal() -> None:
    terminal = _Terminal()
    progress = TerminalProgress(terminal)
    progress("check", 5000, 100_000)
    progress.close()
    assert terminal.getvalue().startswith("\rchecking 5,000/100,000 rows")
    assert terminal.getvalue().endswith("\n")
    piped = io.StringIO()
    quiet = TerminalProgress(piped)
    quiet("check", 5000, 100_000)
    quiet.close()
    assert piped.getvalue() == ""
