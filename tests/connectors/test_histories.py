"""Each department's processing-history vocabulary: the simulated system and its connector agree on it,
every ``EventKind`` a department can log is known, and an unknown step is refused as malformed."""

from __future__ import annotations

from typing import Any

import pytest

import connectors.civil_air_defence as cad_connector
import connectors.fire as fire_connector
import connectors.planning as planning_connector
import connectors.real_estate as real_estate_connector
import connectors.utilities as utilities_connector
import fixtures.civil_air_defence as cad_fixture
import fixtures.fire as fire_fixture
import fixtures.planning as planning_fixture
import fixtures.real_estate as real_estate_fixture
import fixtures.utilities as utilities_fixture
from domain.records import EventKind

ITEM_STEPS = {k for k in EventKind if not k.value.startswith(("TICKET_", "REGISTRATION_", "REGISTERED"))}


def by_code(table: dict[EventKind, Any]) -> dict[Any, EventKind]:
    return {(v[0] if isinstance(v, tuple) else v): k for k, v in table.items()}


@pytest.mark.parametrize(
    ("fixture_table", "connector_table", "kinds"),
    [
        (planning_fixture.PROCESS_NODES, planning_connector.PROCESS_NODES, ITEM_STEPS),
        (fire_fixture.FLOW_ACTIONS, fire_connector.FLOW_ACTIONS, ITEM_STEPS),
        (cad_fixture.STEP_NAMES, cad_connector.STEP_NAMES, ITEM_STEPS),
        (real_estate_fixture.STEPS, real_estate_connector.STEPS, ITEM_STEPS),
        (
            utilities_fixture.EVENT_TYPES,
            utilities_connector.EVENT_TYPES,
            set(EventKind)
            - {
                EventKind.REGISTRATION_APPLIED,
                EventKind.REGISTERED,
            },
        ),
    ],
    ids=["planning", "fire", "civil_air_defence", "real_estate", "utilities"],
)
def test_system_and_connector_share_one_vocabulary(
    fixture_table: dict[EventKind, Any], connector_table: dict[Any, EventKind], kinds: set[EventKind]
) -> None:
    assert by_code(fixture_table) == connector_table
    assert set(fixture_table) == kinds


def test_unknown_steps_are_refused() -> None:
    with pytest.raises(ValueError, match="process node"):
        planning_connector.parse_process_log({"processLog": [{"nodeCode": "XX", "finishDate": "2024-03-05"}]})
    with pytest.raises(ValueError, match="flow action"):
        fire_connector.parse_flow_records({"flow_records": [{"action": 99, "action_date": "20240305"}]})
    with pytest.raises(ValueError, match="event type"):
        utilities_connector.parse_events(
            {"Events": [{"Type": "Teleported", "OccurredAt": "2024-03-05T01:00:00Z"}]}
        )
    with pytest.raises(TypeError):
        planning_connector.parse_process_log({"processLog": {"nodeCode": "SJ"}})


def test_an_answer_without_a_history_has_none() -> None:
    assert planning_connector.parse_process_log({}) == ()
    assert fire_connector.parse_flow_records({}) == ()
    assert utilities_connector.parse_events({}) == ()
