"""A matter's fire and utilities parts are the same whichever connector serves them.

Two hubs over the same loopback departments: one with the Python connectors,
one with fire and utilities made from their mapping files. Every project's
fire and utilities answer, through GraphQL, must be equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures.world import World
from tests.schema.conftest import HubFactory

MAPPINGS = Path(__file__).resolve().parents[2] / "connectors" / "mappings"
MATTER = """
query ($code: String!) {
  matter(projectCode: $code) {
    projectCode
    firePath { path spotCheckDrawn }
    utilities { utility ticketNumber status rawStatus updatedOn }
    items { department kind name status rawStatus fileNumber submittedOn acceptedOn decidedOn
            statutoryLimitDays promisedLimitDays certificateNumber missingMaterials overdue }
    sources { department status }
  }
}
"""


def _parts(body: dict[str, Any]) -> dict[str, Any]:
    matter = body["data"]["matter"]
    items = [i for i in matter["items"] if i["department"] in ("fire", "utilities")]
    sources = {s["department"]: s["status"] for s in matter["sources"]}
    return {
        "firePath": matter["firePath"],
        "utilities": matter["utilities"],
        "items": items,
        "sources": (sources.get("fire"), sources.get("utilities")),
    }


async def test_every_project_answers_the_same_through_python_and_mapped_connectors(
    make_hub: HubFactory, world: World
) -> None:
    python = await make_hub()
    mapped = await make_hub(
        overrides={
            "fire": {"mapping": str(MAPPINGS / "fire.toml")},
            "utilities": {"mapping": str(MAPPINGS / "utilities.toml")},
        }
    )
    assert type(mapped.services.connectors["fire"]).__name__ == "FireMappedConnector"
    assert type(python.services.connectors["fire"]).__name__ == "FireConnector"
    compared = 0
    for code in world.projects:
        by_python = await python.query(MATTER, {"code": code})
        by_mapping = await mapped.query(MATTER, {"code": code})
        assert "errors" not in by_python and "errors" not in by_mapping, code
        assert _parts(by_mapping) == _parts(by_python), code
        compared += 1
    assert compared == len(world.projects) >= 200
