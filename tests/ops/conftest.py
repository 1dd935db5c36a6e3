"""Operations tests run the real app in-process over the loopback departments.

The hub fixtures are the schema tests' (tests/schema/conftest.py): the five
simulated departments on loopback ports, the app through ``httpx.ASGITransport``,
departments driven through their ``/_admin`` endpoints.
"""

from __future__ import annotations

from typing import Any

from fixtures.world import DEPARTMENTS, World
from tests.schema.conftest import demo_credentials, domain_modules, hub, make_hub

__all__ = ["demo_credentials", "domain_modules", "hub", "make_hub"]

MATTER = """
query Matter($code: String!) {
  matter(projectCode: $code) {
    projectCode name stage
    items { department kind status }
    sources { department status known }
  }
}
"""


def complete_project(world: World) -> str:
    """A project every department knows, so a matter calls all five."""
    return next(c for c in sorted(world.projects) if all(world.view(d, c) for d in DEPARTMENTS))


def samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """The samples of one series in a Prometheus text exposition, by label set."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[frozenset[tuple[str, str]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[frozenset(sample.labels.items())] = sample.value
    return found


def value(text: str, name: str, **labels: Any) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = {(k, str(v)) for k, v in labels.items()}
    return sum(v for key, v in samples(text, name).items() if wanted <= key)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
