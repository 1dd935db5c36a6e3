"""The two plug-in departments (plugins/): installed, they join the hub; hidden, the hub serves the five.

The Makefile installs both packages into the venv. "Uninstalled" is checked by
running ``onematter serve`` with a ``sitecustomize`` that hides the two
distributions from the interpreter (their entry points and their modules), so
the venv itself is never changed under other tests.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from connectors.discovery import available, discover

REPO = Path(__file__).resolve().parents[2]
PLUGINS = {"construction_permit": "onematter_construction_permit", "ecology": "onematter_ecology"}
FIVE = {"planning", "civil_air_defence", "fire", "utilities", "real_estate"}
TIANJIA_CODE = "2023-430472-70-03-000928"
HELI_CODE = "2023-430472-34-03-000512"


def _installed() -> None:
    missing = sorted(set(PLUGINS) - set(available()))
    if missing:
        pytest.fail(f"plug-ins not installed: {missing} (make .venv/.installed installs plugins/*)")


def test_no_file_of_schema_or_gateway_names_them() -> None:
    words = re.compile(
        r"construction_permit\b(?!\.permit)|onematter_construction_permit|ecology|onematter_ecology"
    )
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for folder in ("schema", "gateway")
        for path in sorted((REPO / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if words.search(line)
    ]
    assert offenders == []


def test_installed_they_are_found_by_their_entry_points() -> None:
    _installed()
    registered = available()
    assert (
        registered["construction_permit"]
        == f"{PLUGINS['construction_permit']}.connector:ConstructionPermitConnector"
    )
    assert registered["ecology"] == f"{PLUGINS['ecology']}.connector:EcologyConnector"
    factories = discover()
    assert factories["construction_permit"].title == "住房和城乡建设局"
    assert factories["ecology"].title == "生态环境局"


def test_installed_they_are_their_own_matter_fields_in_the_sdl() -> None:
    _installed()
    from schema import build_schema, parts_of

    sdl = build_schema(parts=parts_of(discover())).as_str()
    matter = sdl[sdl.index("type Matter ") :].split("\n}", 1)[0]
    assert "  constructionPermit: ConstructionPermits" in matter
    assert "  ecology: [EcologyAssessment!]" in matter
    assert "  phasedPermit: PhasedPermit" in matter


MATTER = """
query($tianjia: String!, $heli: String!) {
  tianjia: matter(projectCode: $tianjia) {
    phasedPermit { mode phases { phase eligible issued permitNumber issuedOn issuedBy } }
    constructionPermit { permits { phase status issuedOn permitNumber } supervision { kind status } }
  }
  heli: matter(projectCode: $heli) {
    ecology { form status acceptedOn decidedOn daysTaken promisedLimit limitUnit withinPromise }
    items { department kind limitUnit promisedLimitDays }
  }
}
"""


def test_installed_the_demo_hub_answers_the_reports_cases(tmp_path: Path) -> None:
    _installed()
    from tests.gateway.hub import RunningHub

    with RunningHub.start(tmp_path) as hub:
        sources = hub.query("{ sources { department title status } }", role="INTEGRATOR")
        body = hub.query(MATTER, {"tianjia": TIANJIA_CODE, "heli": HELI_CODE})
    assert "errors" not in sources, sources["errors"]
    up = {s["department"]: s["status"] for s in sources["data"]["sources"]}
    assert set(up) == FIVE | set(PLUGINS) and set(up.values()) == {"UP"}
    assert "errors" not in body, body["errors"]
    tianjia = body["data"]["tianjia"]
    earthwork = tianjia["phasedPermit"]["phases"][0]
    assert tianjia["phasedPermit"]["mode"] == "THREE_PHASE"
    assert (earthwork["phase"], earthwork["eligible"], earthwork["issued"]) == ("EARTHWORK", True, True)
    assert (earthwork["issuedOn"], earthwork["permitNumber"]) == ("2023-09-28", "430472202309280101")
    assert earthwork["issuedBy"] == "construction_permit"
    assert [p["issued"] for p in tianjia["phasedPermit"]["phases"][1:]] == [False, False]
    assert tianjia["constructionPermit"]["permits"][0]["issuedOn"] == "2023-09-28"
    [assessment] = body["data"]["heli"]["ecology"]
    assert assessment == {
        "form": "REPORT_BOOK",
        "status": "APPROVED",
        "acceptedOn": "2023-03-01",
        "decidedOn": "2023-04-17",
        "daysTaken": 47,
        "promisedLimit": 90,
        "limitUnit": "CALENDAR_DAYS",
        "withinPromise": True,
    }


HIDE = textwrap.dedent(
    """
    # Hides the plug-in departments from this interpreter, as if they were not installed.
    import importlib.abc
    import importlib.metadata as metadata
    import sys

    HIDDEN = {names!r}
    MODULES = {modules!r}
    _entry_points = metadata.entry_points

    def entry_points(**params):
        found = _entry_points(**params)
        if params.get("group") == "onematter.connectors":
            return metadata.EntryPoints(ep for ep in found if ep.name not in HIDDEN)
        return found

    class _Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in MODULES:
                raise ModuleNotFoundError(f"No module named {{name!r}}")
            return None

    metadata.entry_points = entry_points
    sys.meta_path.insert(0, _Hide())
    """
)


def test_without_them_the_hub_starts_and_serves_the_five(tmp_path: Path) -> None:
    from tests.gateway.hub import RunningHub

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        HIDE.format(names=sorted(PLUGINS), modules=sorted(PLUGINS.values())), encoding="utf-8"
    )
    with RunningHub.start(tmp_path, extra_env={"PYTHONPATH": str(site)}) as hub:
        sources = hub.query("{ sources { department status } }", role="INTEGRATOR")
        sdl = hub.query("{ _service { sdl } }")
        phases = "phasedPermit { phases { phase eligible issued } }"
        matter = hub.query(
            f"query($c: String!) {{ matter(projectCode: $c) {{ {phases} }} }}", {"c": TIANJIA_CODE}
        )
    assert "errors" not in sources, sources["errors"]
    assert {s["department"] for s in sources["data"]["sources"]} == FIVE
    text = sdl["data"]["_service"]["sdl"]
    assert "constructionPermit" not in text and "EcologyAssessment" not in text
    assert "errors" not in matter, matter["errors"]
    earthwork = matter["data"]["matter"]["phasedPermit"]["phases"][0]
    assert earthwork == {"phase": "EARTHWORK", "eligible": True, "issued": False}


def test_fixtures_serve_starts_their_simulated_systems() -> None:
    import signal
    import subprocess
    import sys

    import httpx

    onematter = Path(sys.executable).with_name("onematter")
    process = subprocess.Popen(
        [str(onematter), "fixtures", "serve", "--projects", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    urls: dict[str, str] = {}
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Ctrl-C to stop"):
                break
            name, _, rest = line.partition(" ")
            if rest.strip().startswith("http://"):
                urls[name] = rest.split()[0]
        assert FIVE | set(PLUGINS) <= set(urls)
        # Editable installs are invisible to mypy (setuptools import hooks).
        from onematter_construction_permit.fixture import DEMO_PASSWORD, DEMO_USER  # type: ignore[import-not-found]
        from onematter_ecology.fixture import DEMO_API_KEY  # type: ignore[import-not-found]

        permit = httpx.get(
            f"{urls['construction_permit']}/sgxk/xm/{TIANJIA_CODE}",
            auth=(DEMO_USER, DEMO_PASSWORD),
            timeout=10,
        )
        assert permit.status_code == 200 and b'fzrq="2023-09-28"' in permit.content
        eia = httpx.post(
            f"{urls['ecology']}/hpsp/xmcx", data={"xmdm": HELI_CODE, "token": DEMO_API_KEY}, timeout=10
        )
        assert eia.status_code == 200 and eia.json()["xm"]["hpwj"][0]["pfrq"] == "20230417"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
