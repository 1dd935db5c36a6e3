"""The part API: how a connector's part becomes a Matter field, and the mistakes it refuses."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import strawberry

from connectors.mapped import mapped_connector
from schema import MatterPart, PartInput, PartLoadError, build_schema, load_part, parts_of

MAPPINGS = Path(__file__).resolve().parents[2] / "connectors" / "mappings"


@strawberry.type
class Weather:
    sky: str


def _show(part: PartInput) -> Weather:
    return Weather(sky="clear")


GOOD = MatterPart(field="weather", type=Weather, show=_show, description="Today's sky.")
CLASHING = MatterPart(field="items", type=Weather, show=_show)
BAD_NAME = MatterPart(field="Weather", type=Weather, show=_show)
NOT_A_PART = object()


def matter_sdl(sdl: str) -> str:
    return sdl[sdl.index("type Matter ") :].split("\n}", 1)[0]


def test_a_part_is_a_nullable_field_after_items() -> None:
    sdl = build_schema(parts=[load_part("weather", f"{__name__}:GOOD")]).as_str()
    matter = matter_sdl(sdl)
    assert '  """Today\'s sky."""\n  weather: Weather\n' in matter
    assert matter.index("items:") < matter.index("weather:") < matter.index("phasedPermit:")
    for built_in in ("planning:", "civilAirDefence:", "firePath:", "utilities:", "realEstate:"):
        assert built_in not in matter  # only the parts given


def test_every_built_in_department_has_its_part() -> None:
    from connectors.discovery import discover

    fields = {p.department: p.part.field for p in parts_of(discover())}
    assert {k: fields[k] for k in ("planning", "civil_air_defence", "fire", "utilities", "real_estate")} == {
        "planning": "planning",
        "civil_air_defence": "civil_air_defence",
        "fire": "fire_path",
        "utilities": "utilities",
        "real_estate": "real_estate",
    }


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        (f"{__name__}:NOT_A_PART", "is not a MatterPart"),
        (f"{__name__}:BAD_NAME", "is not a valid name"),
        (f"{__name__}:MISSING", "failed to load"),
        ("no.such.module:PART", "failed to load"),
        ("no_colon", "failed to load"),
    ],
)
def test_a_bad_part_is_refused_with_the_connector_named(path: str, problem: str) -> None:
    with pytest.raises(PartLoadError, match=problem) as caught:
        load_part("weather", path)
    assert "'weather'" in str(caught.value)


def test_a_part_may_not_take_a_field_of_matter() -> None:
    with pytest.raises(PartLoadError, match="already a field of Matter"):
        build_schema(parts=[load_part("weather", f"{__name__}:CLASHING")])
    twice = [load_part("weather", f"{__name__}:GOOD"), load_part("sky", f"{__name__}:GOOD")]
    with pytest.raises(PartLoadError, match="already a field of Matter"):
        build_schema(parts=twice)


def test_a_part_path_must_be_a_string() -> None:
    with pytest.raises(PartLoadError, match="must be a 'module:ATTRIBUTE' string"):
        parts_of({"weather": SimpleNamespace(name="weather", part=GOOD)})
    assert parts_of({"weather": SimpleNamespace(name="weather")}) == []  # no part: no field


def test_mapped_departments_take_the_built_in_part_or_their_items() -> None:
    fire = mapped_connector(MAPPINGS / "fire.toml")
    urban = mapped_connector(MAPPINGS / "urban_management.toml")
    parts = parts_of({"fire": fire, "urban_management": urban})
    assert [(p.department, p.part.field) for p in parts] == [
        ("fire", "fire_path"),
        ("urban_management", "urban_management"),
    ]
    matter = matter_sdl(build_schema(parts=parts).as_str())
    assert "  firePath: FirePath\n" in matter
    assert "  urbanManagement: DepartmentItems\n" in matter
