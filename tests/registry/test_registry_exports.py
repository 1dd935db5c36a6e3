"""What auditors asked of the exports: typed cells, generation time and as-of date, clear refusals.

The LibreOffice check converts an exported workbook with ``libreoffice --headless
--convert-to`` (``.ci/run`` installs Debian's libreoffice-calc-nogui); without it
that one test skips and says so.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from gateway.cli import main


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('exports') / 'registry.db'}"
    assert main(["registry", "seed", "--database-url", url]) == 0
    return url


def export(url: str, *args: str) -> int:
    return main(["registry", "export", *args, "--database-url", url])


def test_indicators_as_xlsx_are_typed_dated_and_readable(
    seeded_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "indicators.xlsx"
    assert export(seeded_url, "indicators", "--output", str(target)) == 0
    sheet = load_workbook(target)["改革指标"]
    generated, as_of = sheet["B1"], sheet["B2"]
    assert sheet["A1"].value == "生成时间" and generated.is_date and isinstance(generated.value, datetime)
    assert sheet["A2"].value == "数据截至" and as_of.is_date and as_of.value.date() == date(2023, 3, 15)
    assert [c.value for c in sheet[4]] == ["指标键", "指标", "数值", "单位", "报告数", "计算口径"]
    assert sheet.freeze_panes == "A5"  # the header stays in view
    rows = {r[0].value: r for r in sheet.iter_rows(min_row=5)}
    online = rows["online_rate"][2]
    assert online.data_type == "n" and online.number_format == "0.0%" and online.value == pytest.approx(0.856)
    items = rows["service_items"][2]
    assert items.data_type == "n" and items.value == 226
    # Widths fit the Chinese labels (two columns a character).
    label_width = max(len(r[1].value) for r in rows.values()) * 2
    assert sheet.column_dimensions["B"].width >= label_width


def test_indicators_as_csv(seeded_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert export(seeded_url, "indicators", "--format", "csv") == 0
    table = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert table[0][0] == "生成时间" and table[1] == ["数据截至", "2023-03-15"]
    by_key = {r[0]: r for r in table[4:]}
    assert by_key["online_rate"][2:5] == ["85.6%", "%", "85.6%"]
    assert by_key["materials_after"][2:5] == ["5.1", "份", "5.1"]


def test_ods_and_other_suffixes_are_refused(
    seeded_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    target = tmp_path / "coverage.ods"
    assert export(seeded_url, "coverage", "--output", str(target)) == 2
    assert "cannot write .ods files" in capsys.readouterr().err
    assert not target.exists()
    assert export(seeded_url, "coverage", "--format", "csv", "--output", str(tmp_path / "x.xlsx")) == 2
    assert "does not match" in capsys.readouterr().err


def test_a_missing_output_folder_has_its_own_error(
    seeded_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert export(seeded_url, "catalogue", "--output", str(tmp_path / "nowhere" / "c.xlsx")) == 2
    err = capsys.readouterr().err
    assert "the output folder" in err and "does not exist" in err
    assert "registry database" not in err


def test_the_catalogue_exports_and_imports_back_through_the_cli(
    seeded_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "catalogue.xlsx"
    assert export(seeded_url, "catalogue", "--output", str(target)) == 0
    capsys.readouterr()
    assert main(["registry", "import", str(target), "--catalogue", "--database-url", seeded_url]) == 0
    assert "0 new items, 0 changed, 232 unchanged" in capsys.readouterr().out


def _libreoffice() -> str | None:
    return shutil.which("libreoffice") or shutil.which("soffice")


def test_the_exported_xlsx_opens_in_libreoffice_with_numbers_as_numbers(
    seeded_url: str, tmp_path: Path
) -> None:
    office = _libreoffice()
    if office is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
    target = tmp_path / "indicators.xlsx"
    assert export(seeded_url, "indicators", "--output", str(target)) == 0
    profile = tmp_path / "profile"  # its own profile: other runs may use LibreOffice at the same time
    command = [office, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to"]
    # CSV filter options: comma, double quote, UTF-8 (76), from the first line.
    for fmt in ("pdf", "csv:Text - txt - csv (StarCalc):44,34,76,1"):
        done = subprocess.run(
            [*command, fmt, "--outdir", str(tmp_path), str(target)],
            capture_output=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "indicators.pdf").read_bytes().startswith(b"%PDF")
    # LibreOffice's own rendering of the cells: rates with their percent sign, counts as numbers.
    rows = {r[0]: r for r in csv.reader((tmp_path / "indicators.csv").read_text("utf-8").splitlines()) if r}
    assert rows["online_rate"][2] == "85.6%" and rows["service_items"][2] == "226"
    assert rows["数据截至"][1] == "2023-03-15"
