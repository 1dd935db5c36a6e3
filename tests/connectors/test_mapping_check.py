"""`onematter connector check` names the file, line and key of each kind of mapping mistake.

Each case takes the shipped fire mapping, makes one mistake in it, and runs the
command as a user would; the message must point at the line that holds (or
should hold) the key, and never be a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway import cli
from tests.connectors.test_mapped import MAPPINGS

FIRE = (MAPPINGS / "fire.toml").read_text(encoding="utf-8")


def replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


# (case, edit of the fire mapping, the line the message must name, the key it must name)
MISTAKES = [
    ("toml-syntax", replace('title = "消防救援支队"', 'title = "消防救援支队'), 'title = "消防救援支队', ""),
    (
        "unknown-key",
        replace('title = "消防救援支队"', 'title = "消防救援支队"\ncolour = "red"'),
        "colour",
        "department.colour",
    ),
    ("missing-key", replace('path = "/api/v1/projects/{project_code}"\n', ""), "[lookup]", "lookup.path"),
    (
        "bad-jmespath",
        replace('records = "list"', 'records = "list[["'),
        'records = "list[["',
        "batch.records",
    ),
    (
        "unknown-lifecycle",
        replace('"30" = "IN_REVIEW"', '"30" = "REVIEWING"'),
        '"30" = "REVIEWING"',
        "statuses.30",
    ),
    (
        "unknown-record-field",
        replace("submitted_on = {", "submited_on = {"),
        "submited_on",
        "records.items.fields.submited_on",
    ),
    (
        "unknown-auth-style",
        replace("[response]", '[auth]\nstyle = "kerberos"\n\n[response]'),
        'style = "kerberos"',
        "auth.style",
    ),
    (
        "api-key-without-header",
        replace("[response]", '[auth]\nstyle = "api_key"\n\n[response]'),
        "[auth]",
        "auth",
    ),
    (
        "unknown-placeholder",
        replace('path = "/api/v1/projects/{project_code}"', 'path = "/api/v1/projects/{code}"'),
        'path = "/api/v1/projects/{code}"',
        "lookup.path",
    ),
    ("bad-date-format", replace('format = "%Y%m%d"', 'format = "%d-%m"'), 'format = "%d-%m"', "dates.format"),
    ("batch-size-zero", replace("max_size = 50", "max_size = 0"), "max_size = 0", "batch.max_size"),
    (
        "wrong-value-type",
        replace("max_size = 50", 'max_size = "fifty"'),
        'max_size = "fifty"',
        "batch.max_size",
    ),
    (
        "cursor-without-next",
        replace("max_size = 50", 'max_size = 50\npaging = { style = "cursor" }'),
        "paging = ",
        "batch.paging",
    ),
    (
        "required-field-unmapped",
        replace('name = "biz_name"\n', ""),
        "[records.items.fields]",
        "records.items.fields",
    ),
    (
        "enum-value-unknown",
        replace('"1" = "DESIGN_REVIEW"', '"1" = "REVIEW"'),
        '"1" = "REVIEW"',
        "records.fire_path.fields.path",
    ),
    (
        "date-without-date-type",
        replace('submitted_on = { path = "apply_date", type = "date" }', 'submitted_on = "apply_date"'),
        'submitted_on = "apply_date"',
        "records.items.fields.submitted_on",
    ),
    (
        "unknown-slot",
        lambda text: text.replace("[records.fire_path", "[records.fire_route"),
        "[records.fire_route]",
        "records.fire_route",
    ),
]


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["connector", "check", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_shipped_mappings_check_clean(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("fire", "utilities"):
        code, out, err = check(MAPPINGS / f"{name}.toml", capsys)
        assert (code, err) == (0, ""), err
        assert f"ok: department {name}" in out


@pytest.mark.parametrize(("case", "edit", "marker", "key"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_each_mistake_names_file_line_and_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    edit: Callable[[str], str],
    marker: str,
    key: str,
) -> None:
    text = edit(FIRE)
    line = next(n for n, content in enumerate(text.splitlines(), start=1) if marker in content)
    path = tmp_path / f"{case}.toml"
    path.write_text(text, encoding="utf-8")
    code, out, err = check(path, capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert f"{path}:{line}: " in err, err
    if key:
        assert f": {key}: " in err, err


def test_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check(tmp_path / "absent.toml", capsys)
    assert code == 2 and "absent.toml: cannot read the mapping" in err and len(err.splitlines()) == 1


async def test_with_a_base_url_it_calls_the_system_once_and_prints_what_it_mapped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import asyncio

    from fixtures import fire
    from fixtures.serve import serve_app
    from tests.fixtures.test_planning_app import tiny_world

    server = await serve_app(fire.create_app(tiny_world()))
    try:
        args = ["connector", "check", str(MAPPINGS / "fire.toml"), "--base-url", server.url]
        known = await asyncio.to_thread(cli.main, [*args, "--project", "2024-430472-47-03-000001"])
        out, err = capsys.readouterr()
        assert (known, err) == (0, "")
        assert '"kind": "fire.design_review"' in out and '"path": "DESIGN_REVIEW"' in out
        unknown = await asyncio.to_thread(cli.main, [*args, "--project", "2024-430472-47-03-000003"])
        out, _ = capsys.readouterr()
        assert unknown == 0 and "not known to fire" in out
    finally:
        await server.stop()
    down = await asyncio.to_thread(cli.main, [*args, "--project", "2024-430472-47-03-000001"])
    _, err = capsys.readouterr()
    assert down == 1 and len(err.splitlines()) == 1 and "Traceback" not in err and "fire" in err
