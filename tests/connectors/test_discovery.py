"""Connector discovery through the ``onematter.connectors`` entry points, and building them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import EntryPoint
from typing import Any

import httpx
import pytest
from aiocache import SimpleMemoryCache

from connectors import discovery
from connectors.base import Connector
from connectors.discovery import GROUP, ConnectorLoadError, build_connectors, discover
from connectors.pipeline import CallPipeline
from connectors.settings import ConnectorSettings
from domain.records import DepartmentView, HealthReport

BUILT_INS = {"planning", "civil_air_defence", "fire", "utilities", "real_estate"}


class FakeConnector:
    name = "fake"
    title = "测试局"

    def __init__(self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: Any) -> None:
        self.settings = settings
        self.client = client
        self.pipeline = CallPipeline(self.name, settings, cache)

    async def fetch_project(self, project_code: str) -> DepartmentView | None:
        return None

    async def fetch_projects(self, project_codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        return {}

    async def health(self) -> HealthReport:
        return HealthReport(self.name, "UP", 0.0)

    async def aclose(self) -> None:
        pass


class Misnamed(FakeConnector):
    name = "something_else"


class Exploding(FakeConnector):
    name = "exploding"

    def __init__(self, **kwargs: Any) -> None:
        raise RuntimeError("cannot start")


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> list[EntryPoint]:
    """Replace the installed entry points with a list the test fills."""
    points: list[EntryPoint] = []

    def fake(*, group: str) -> list[EntryPoint]:
        assert group == GROUP
        return list(points)

    monkeypatch.setattr(discovery, "entry_points", fake)
    return points


def test_the_built_in_connectors_are_registered_as_entry_points() -> None:
    assert BUILT_INS <= set(discovery.available())
    assert discovery.available()["planning"] == "connectors.planning:PlanningConnector"


def test_discover_loads_registered_classes(entry_points: list[EntryPoint]) -> None:
    entry_points.append(ep("fake", f"{__name__}:FakeConnector"))
    assert discover() == {"fake": FakeConnector}


def test_a_broken_entry_point_is_named(entry_points: list[EntryPoint]) -> None:
    entry_points.append(ep("ghost", "no_such_package.connector:GhostConnector"))
    with pytest.raises(ConnectorLoadError) as caught:
        discover()
    message = str(caught.value)
    assert "'ghost'" in message and "no_such_package.connector:GhostConnector" in message
    assert "ModuleNotFoundError" in message


def test_a_missing_attribute_is_named(entry_points: list[EntryPoint]) -> None:
    entry_points.append(ep("fake", f"{__name__}:NoSuchClass"))
    with pytest.raises(ConnectorLoadError, match="failed to load: AttributeError"):
        discover()


def test_the_class_name_must_match_the_entry_point(entry_points: list[EntryPoint]) -> None:
    entry_points.append(ep("fake", f"{__name__}:Misnamed"))
    with pytest.raises(ConnectorLoadError, match="its name attribute is 'something_else', not 'fake'"):
        discover()


@pytest.mark.parametrize("bad", ["Fake", "1fake", "fa-ke", "x" * 41])
def test_entry_point_names_follow_the_config_rule(entry_points: list[EntryPoint], bad: str) -> None:
    entry_points.append(ep(bad, f"{__name__}:FakeConnector"))
    with pytest.raises(ConnectorLoadError, match="not a valid name"):
        discover()


def test_one_name_registered_twice_is_an_error(entry_points: list[EntryPoint]) -> None:
    entry_points += [ep("fake", f"{__name__}:FakeConnector"), ep("fake", "other.module:FakeConnector")]
    with pytest.raises(ConnectorLoadError, match="registered twice"):
        discover()


def test_the_same_entry_point_listed_twice_is_fine(entry_points: list[EntryPoint]) -> None:
    entry_points += [ep("fake", f"{__name__}:FakeConnector")] * 2
    assert list(discover()) == ["fake"]


def test_discover_can_load_only_some(entry_points: list[EntryPoint]) -> None:
    entry_points += [ep("fake", f"{__name__}:FakeConnector"), ep("ghost", "no_such_package:X")]
    assert discover(lambda name: name == "fake") == {"fake": FakeConnector}


async def test_build_connectors_builds_enabled_ones_and_skips_disabled(
    entry_points: list[EntryPoint],
) -> None:
    entry_points += [ep("fake", f"{__name__}:FakeConnector"), ep("ghost", "no_such_package:X")]
    clients: dict[str, httpx.AsyncClient] = {}

    def client_for(name: str) -> httpx.AsyncClient:
        clients[name] = httpx.AsyncClient(base_url="http://127.0.0.1:1")
        return clients[name]

    settings = {
        "fake": ConnectorSettings(base_url="http://127.0.0.1:1", deadline_s=1.5),
        "ghost": ConnectorSettings(enabled=False),  # disabled: never even imported
    }
    built = build_connectors(settings, cache=SimpleMemoryCache(), client_for=client_for)
    try:
        assert list(built) == ["fake"]
        connector = built["fake"]
        assert isinstance(connector, Connector)
        assert connector.pipeline.settings.deadline_s == 1.5
        assert connector.client is clients["fake"]  # type: ignore[attr-defined]
    finally:
        for client in clients.values():
            await client.aclose()


def test_a_connector_without_a_table_is_built_with_defaults(entry_points: list[EntryPoint]) -> None:
    entry_points.append(ep("fake", f"{__name__}:FakeConnector"))
    built = build_connectors({}, cache=SimpleMemoryCache(), client_for=lambda name: httpx.AsyncClient())
    assert built["fake"].pipeline.settings == ConnectorSettings()


def test_a_table_for_no_installed_connector_is_an_error(entry_points: list[EntryPoint]) -> None:
    entry_points.append(ep("fake", f"{__name__}:FakeConnector"))
    with pytest.raises(ConnectorLoadError, match=r"\[connectors.plannig\] names no installed connector"):
        build_connectors(
            {"plannig": ConnectorSettings()},
            cache=SimpleMemoryCache(),
            client_for=lambda n: httpx.AsyncClient(),
        )
    # ...unless it is disabled anyway.
    built = build_connectors(
        {"plannig": ConnectorSettings(enabled=False)},
        cache=SimpleMemoryCache(),
        client_for=lambda n: httpx.AsyncClient(),
    )
    assert list(built) == ["fake"]


def test_a_connector_that_fails_to_build_is_named(entry_points: list[EntryPoint]) -> None:
    entry_points.append(ep("exploding", f"{__name__}:Exploding"))
    with pytest.raises(
        ConnectorLoadError, match="'exploding' could not be built: RuntimeError: cannot start"
    ):
        build_connectors({}, cache=SimpleMemoryCache(), client_for=lambda n: httpx.AsyncClient())


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"batch_size": "abc"}, "batch_size: must be a whole number (got 'abc')"),
        ({"batch_size": True}, "batch_size: must be a whole number (got True)"),
        ({"batch_size": 0}, "batch_size: must be at least 1 (got 0)"),
        ({"token_margin_s": "soon"}, "token_margin_s: must be a number (got 'soon')"),
        ({"token_path": 5}, "token_path: must be a string (got 5)"),
    ],
)
def test_a_bad_option_value_names_the_connector_and_key(options: dict[str, Any], problem: str) -> None:
    from connectors.real_estate import RealEstateConnector

    settings = {"real_estate": ConnectorSettings(base_url="http://127.0.0.1:9", options=options)}
    with pytest.raises(ConnectorLoadError) as caught:
        build_connectors(
            settings,
            cache=SimpleMemoryCache(timeout=None),
            client_for=lambda _: httpx.AsyncClient(),
            factories={"real_estate": RealEstateConnector},
        )
    assert str(caught.value) == f"invalid configuration: [connectors.real_estate.options] {problem}"


def test_a_whole_number_is_a_number_option() -> None:
    assert ConnectorSettings(options={"token_margin_s": 60}).option("token_margin_s", 30.0) == 60.0
    assert ConnectorSettings().option("token_margin_s", 30.0, minimum=0) == 30.0
