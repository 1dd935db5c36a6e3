"""The README's example queries return what the README shows, on the embedded demo.

Each ``###`` example in README.md names its role (Role `X`), then a ``graphql``
block and the ``json`` block it answers. The outage example runs on a second
hub whose fire department points at a port where nothing listens.

After a deliberate change to what the demo answers, refresh the README with
``.venv/bin/python -m tests.gateway.test_readme`` (it runs the demo and rewrites
the ``json`` blocks), and read the diff.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.hub import RunningHub

README = Path(__file__).parents[2] / "README.md"
DEAD_FIRE = {"ONEMATTER__CONNECTORS__FIRE__BASE_URL": "http://127.0.0.1:9"}


@dataclass(frozen=True)
class Example:
    title: str
    role: str
    query: str
    expected: Any

    @property
    def needs_dead_fire(self) -> bool:
        return "department is down" in self.title


def examples() -> list[Example]:
    found = []
    for section in re.split(r"^### ", README.read_text(encoding="utf-8"), flags=re.M)[1:]:
        title = section.splitlines()[0]
        role = re.search(r"[Rr]ole `([A-Z_]+)`", section)
        query = re.search(r"```graphql\n(.*?)```", section, re.S)
        expected = re.search(r"```json\n(.*?)```", section, re.S)
        if role and query and expected:
            found.append(Example(title, role.group(1), query.group(1), json.loads(expected.group(1))))
    return found


def test_readme_has_three_examples_and_an_outage() -> None:
    found = examples()
    assert len(found) == 4, [e.title for e in found]
    assert sum(e.needs_dead_fire for e in found) == 1


@pytest.fixture(scope="module")
def hub_without_fire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with RunningHub.start(tmp_path_factory.mktemp("nofire"), extra_env=DEAD_FIRE) as running:
        yield running


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.title)
def test_readme_example(example: Example, request: pytest.FixtureRequest) -> None:
    hub: RunningHub = request.getfixturevalue("hub_without_fire" if example.needs_dead_fire else "hub")
    actual = hub.query(example.query, role=example.role)
    assert actual == example.expected, json.dumps(actual, ensure_ascii=False, indent=2)


# -- refreshing the README -------------------------------------------------------------


def format_json(value: Any, indent: int = 0, width: int = 104) -> str:
    """JSON with small flat objects and lists on one line, as the README shows it."""
    flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    if not isinstance(value, dict | list) or (
        len(flat) + indent <= width and all(not isinstance(c, dict | list) or not c for c in children)
    ):
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        lines = [
            f"{pad}{json.dumps(k, ensure_ascii=False)}: {format_json(v, indent + 2)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(lines) + "\n" + " " * indent + "}"
    lines = [pad + format_json(v, indent + 2) for v in value]
    return "[\n" + ",\n".join(lines) + "\n" + " " * indent + "]"


def update_readme() -> None:
    text = README.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "hub").mkdir()
        (root / "nofire").mkdir()
        with (
            RunningHub.start(root / "hub") as hub,
            RunningHub.start(root / "nofire", extra_env=DEAD_FIRE) as nofire,
        ):
            for example in examples():
                actual = (nofire if example.needs_dead_fire else hub).query(example.query, role=example.role)
                start = text.index(f"### {example.title}")
                block = re.compile(r"```json\n.*?```", re.S).search(text, start)
                assert block is not None
                replacement = "```json\n" + format_json(actual) + "\n```"
                text = text[: block.start()] + replacement + text[block.end() :]
    README.write_text(text, encoding="utf-8")
    print(f"updated {README}", file=sys.stderr)


if __name__ == "__main__":
    update_readme()
