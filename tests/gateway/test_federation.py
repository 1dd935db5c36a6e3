"""The schema is an Apollo Federation 2 subgraph that composes.

The subgraph SDL (what a router reads from ``_service { sdl }``) is composed
with @theguild/federation-composition, the library Hive Gateway uses and a
drop-in for Apollo's: alone, and beside a second subgraph that extends
``Matter`` and ``Enterprise`` by their keys.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from schema import build_schema

NODE_TOOLS = Path(__file__).parents[1] / "federation"

# A second team's subgraph: a portal's bookmarks, joined to the hub's entities by key.
PORTAL_SUBGRAPH = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])

type Matter @key(fields: "projectCode") {
  projectCode: String!
  bookmarked: Boolean!
}

type Enterprise @key(fields: "creditCode") {
  creditCode: String!
  appointments: [String!]!
}

type Query {
  bookmarks: [Matter!]!
}
"""


@pytest.fixture(scope="module")
def sdl() -> str:
    result = build_schema().execute_sync("{ _service { sdl } }")
    assert result.errors is None, result.errors
    assert result.data is not None
    text: str = result.data["_service"]["sdl"]
    return text


def test_subgraph_declares_federation_2(sdl: str) -> None:
    assert '@link(url: "https://specs.apollo.dev/federation/v2.' in sdl


def test_entities_are_keyed(sdl: str) -> None:
    assert 'type Matter @key(fields: "projectCode")' in sdl
    assert 'type Enterprise @key(fields: "creditCode")' in sdl


def test_subgraph_fields_exist() -> None:
    query = build_schema().as_str()
    assert "_service: _Service!" in query
    assert "_entities(representations: [_Any!]!): [_Entity]!" in query
    assert "union _Entity = Enterprise | Matter" in query


async def _compose(tmp_path: Path, subgraphs: dict[str, str]) -> tuple[int, str]:
    node = shutil.which("node")
    if node is None or not (NODE_TOOLS / "node_modules" / "@theguild" / "federation-composition").is_dir():
        pytest.skip("needs node and `npm ci --prefix tests/federation` (make test runs it)")
    args = []
    for name, text in subgraphs.items():
        path = tmp_path / f"{name}.graphql"
        path.write_text(text, encoding="utf-8")
        args.append(f"{name}={path}")
    process = await asyncio.create_subprocess_exec(
        node,
        str(NODE_TOOLS / "compose.mjs"),
        *args,
        "--out",
        str(tmp_path / "supergraph.graphql"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_subgraph_composes(sdl: str, tmp_path: Path) -> None:
    code, output = await _compose(tmp_path, {"onematter": sdl})
    assert code == 0, output
    supergraph = (tmp_path / "supergraph.graphql").read_text(encoding="utf-8")
    assert "join__graph" in supergraph and "ONEMATTER" in supergraph


async def test_subgraph_composes_with_another_team(sdl: str, tmp_path: Path) -> None:
    code, output = await _compose(tmp_path, {"onematter": sdl, "portal": PORTAL_SUBGRAPH})
    assert code == 0, output
    supergraph = (tmp_path / "supergraph.graphql").read_text(encoding="utf-8")
    assert "bookmarked: Boolean!" in supergraph and "appointments: [String!]!" in supergraph


async def test_composition_errors_are_reported(tmp_path: Path) -> None:
    # The check itself must fail on a broken subgraph, or a pass would mean nothing.
    broken = PORTAL_SUBGRAPH.replace("projectCode: String!\n  bookmarked", "projectCode: Int!\n  bookmarked")
    code, output = await _compose(tmp_path, {"portal": broken, "other": PORTAL_SUBGRAPH})
    assert code == 1
    assert "composition error" in output
