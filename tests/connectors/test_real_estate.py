"""The real-estate connector against the simulated registration system, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import ClassVar

import pytest

from connectors.real_estate import STATUS_LABELS, RealEstateConnector
from connectors.testing import ConnectorContract
from domain.errors import DepartmentMalformed, DepartmentRejected
from fixtures.faults import FaultInjector, FaultSettings
from fixtures.real_estate import STATUS_LABELS as FIXTURE_LABELS
from fixtures.real_estate import TOKEN_TTL_S, create_app
from fixtures.world import World
from tests.connectors.roundtrip import Served, check_batch, check_round_trip
from tests.fixtures.handmade import EARLY, FEE, SHELTER, handmade_world

ID_VAR, SECRET_VAR = "ONEMATTER_REAL_ESTATE_CLIENT_ID", "ONEMATTER_REAL_ESTATE_CLIENT_SECRET"
CREDENTIALS = {"client_id": ID_VAR, "client_secret": SECRET_VAR}


class Ticking:
    """The department's clock: moves only when a test says so (or ``step`` per reading)."""

    def __init__(self, step: float = 0.0) -> None:
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture(autouse=True)
def demo_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ID_VAR, "onematter-hub")
    monkeypatch.setenv(SECRET_VAR, "demo-secret")


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., object]]:
    served = Served(RealEstateConnector, credentials=CREDENTIALS, fake_clock=True)
    yield served.start
    await served.aclose()


BY_PROJECT = "/bdc/api/v1/registrations/by-project"
BATCH = "/bdc/api/v1/registrations/batch-query"
TOKEN = "/oauth/token"


@pytest.mark.parametrize("kind", ["handmade", "generated"])
async def test_round_trip_equals_the_world_truth(serve, kind: str, request: pytest.FixtureRequest) -> None:
    world: World = handmade_world() if kind == "handmade" else request.getfixturevalue("world")
    running = await serve(create_app(world))
    await check_round_trip(running, world, "real_estate")
    assert await running.calls(TOKEN) == 1, "one token serves every lookup until it is due"


@pytest.mark.parametrize("kind", ["handmade", "generated"])
async def test_batch_equals_the_world_truth_in_few_calls(
    serve, kind: str, request: pytest.FixtureRequest
) -> None:
    world: World = handmade_world() if kind == "handmade" else request.getfixturevalue("world")
    running = await serve(create_app(world), batch_size=40)
    codes = await check_batch(
        running, world, "real_estate", path=BATCH, per_call=40, unknown="2023-430472-47-03-999999"
    )
    assert await running.connector.fetch_project(codes[-1]) is None  # cached as "not known"
    assert await running.calls(BY_PROJECT) == 0


async def test_unknown_project_is_none_but_a_wrong_path_is_rejected(serve) -> None:
    running = await serve(create_app(handmade_world()))
    assert await running.connector.fetch_project(EARLY) is None
    assert await running.connector.fetch_projects([]) == {}
    wrong = await serve(create_app(handmade_world()), token_path="/oauth/nowhere")
    with pytest.raises(DepartmentRejected) as caught:
        await wrong.connector.fetch_project(FEE)
    assert caught.value.status_code == 404


async def test_token_is_renewed_shortly_before_it_is_due(serve) -> None:
    running = await serve(create_app(handmade_world()), token_margin_s=60)
    assert await running.connector.fetch_project(SHELTER) is not None
    running.clock.advance(TOKEN_TTL_S - 61)
    await running.connector.fetch_project(FEE)
    assert running.connector.tokens.requests == 1
    running.clock.advance(1)  # now within the margin: renew without waiting for a 401
    await running.connector.fetch_project(EARLY)
    assert running.connector.tokens.requests == 2
    assert await running.calls(BY_PROJECT) == 3  # never a 401 on the way


async def test_concurrent_lookups_share_one_token_request(serve) -> None:
    world = handmade_world()
    running = await serve(create_app(world))
    views = await asyncio.gather(*(running.connector.fetch_project(code) for code in world.projects))
    assert [v for v in views if v is not None] == list(world.views["real_estate"].values())
    assert await running.calls(TOKEN) == 1


async def test_early_expiry_gets_a_new_token_and_one_more_try(serve) -> None:
    department_clock = Ticking()
    app = create_app(handmade_world(), clock=department_clock, faults=FaultSettings(token_ttl_s=60))
    running = await serve(app)
    assert await running.connector.fetch_project(SHELTER) is not None
    department_clock.now += 60  # the department dropped the token long before its expires_in
    view = await running.connector.fetch_project(FEE)
    assert view == handmade_world().views["real_estate"][FEE]
    assert running.connector.tokens.requests == 2
    assert running.connector.pipeline.stats().retries == 0  # the refresh is not a pipeline retry
    assert await running.calls(BY_PROJECT) == 3  # SHELTER, FEE (401), FEE again


async def test_a_second_401_is_rejected(serve) -> None:
    # Every reading of the department's clock moves it past the token's life: no token works.
    app = create_app(handmade_world(), clock=Ticking(step=1.0), faults=FaultSettings(token_ttl_s=0.5))
    running = await serve(app)
    with pytest.raises(DepartmentRejected) as caught:
        await running.connector.fetch_project(FEE)
    assert caught.value.status_code == 401
    assert running.connector.tokens.requests == 2
    assert running.connector.pipeline.stats().retries == 0


async def test_wrong_secret_is_rejected_and_never_shown(
    serve, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Sup3r-Wrong-Secret-42"
    monkeypatch.setenv(SECRET_VAR, secret)
    caplog.set_level(logging.DEBUG)
    running = await serve(create_app(handmade_world()))
    for lookup in (running.connector.fetch_project(FEE), running.connector.fetch_projects([FEE, SHELTER])):
        with pytest.raises(DepartmentRejected) as caught:
            await lookup
        shown = f"{caught.value} {caught.value!r} {caught.value.extensions()}"
        assert secret not in shown and "127.0.0.1" not in shown
    assert running.connector.pipeline.stats().retries == 0
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert secret not in logged and secret not in repr(running.connector.settings)
    assert await running.calls(BY_PROJECT) == 0


async def test_missing_credentials_call_nothing(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_VAR)
    running = await serve(create_app(handmade_world()))
    with pytest.raises(DepartmentRejected):
        await running.connector.fetch_project(FEE)
    assert await running.calls(TOKEN) == 0


async def test_malformed_bodies(serve) -> None:
    running = await serve(create_app(handmade_world(), faults=FaultSettings(malformed_rate=1.0)))
    with pytest.raises(DepartmentMalformed) as caught:
        await running.connector.fetch_project(FEE)  # the token answer itself is corrupt
    assert caught.value.department == "real_estate" and "demo-secret" not in str(caught.value)
    await running.admin.put("/_admin/faults", json={"malformed_rate": 0})
    assert await running.connector.fetch_project(FEE) is not None


async def test_health_needs_no_token(serve) -> None:
    running = await serve(create_app(handmade_world()))
    assert (await running.connector.health()).status == "UP"
    assert await running.calls(TOKEN) == 0


def test_the_connector_reads_every_label_the_department_writes() -> None:
    assert set(FIXTURE_LABELS) == set(STATUS_LABELS)
    for label, status in FIXTURE_LABELS.items():
        assert RealEstateConnector.normalise_status(label) == status
    with pytest.raises(KeyError):
        RealEstateConnector.normalise_status("已办结")


_CONTRACT_WORLD = handmade_world()


class TestRealEstateContract(ConnectorContract):
    connector_class = RealEstateConnector
    known_project_code = SHELTER
    unknown_project_code = EARLY
    raw_statuses = tuple(STATUS_LABELS)
    credentials: ClassVar[Mapping[str, tuple[str, str]]] = {
        "client_id": (ID_VAR, "onematter-hub"),
        "client_secret": (SECRET_VAR, "demo-secret"),
    }

    def make_app(self) -> FaultInjector:
        return create_app(_CONTRACT_WORLD)
