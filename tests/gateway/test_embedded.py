"""The embedded default: which departments the hub starts, and how connectors find them."""

from __future__ import annotations

from datetime import date

import httpx

from gateway.config import Settings, load_settings
from gateway.embedded import (
    DEMO_AS_OF,
    FIXTURE_DEPARTMENTS,
    departments_to_embed,
    embed_environment,
    set_demo_credentials,
    start_embedded,
)

ALL = list(FIXTURE_DEPARTMENTS)


def settings_from(environ: dict[str, str]) -> Settings:
    return load_settings(None, environ=environ)


def test_no_configuration_embeds_all_five() -> None:
    assert departments_to_embed(Settings()) == ALL


def test_configured_departments_are_not_embedded() -> None:
    settings = settings_from(
        {
            "ONEMATTER__CONNECTORS__PLANNING__BASE_URL": "http://10.1.2.3/",
            "ONEMATTER__CONNECTORS__FIRE__ENABLED": "false",
        }
    )
    assert departments_to_embed(settings) == ["civil_air_defence", "utilities", "real_estate"]


def test_embedding_can_be_turned_off() -> None:
    assert departments_to_embed(settings_from({"ONEMATTER__HUB__EMBEDDED": "false"})) == []


def test_environment_points_connectors_at_the_departments() -> None:
    urls = {"planning": "http://127.0.0.1:4001", "utilities": "http://127.0.0.1:4002"}
    env = embed_environment(Settings(), urls, date(2023, 10, 31))
    settings = settings_from(env)  # what a worker process reads
    assert settings.connectors["planning"].base_url == "http://127.0.0.1:4001"
    assert settings.connectors["utilities"].base_url == "http://127.0.0.1:4002"
    assert settings.connectors["utilities"].credentials == {"api_key": "ONEMATTER_UTILITIES_API_KEY"}
    assert settings.hub.as_of == date(2023, 10, 31)


def test_configured_credentials_and_date_are_kept() -> None:
    base = settings_from(
        {
            "ONEMATTER__CONNECTORS__UTILITIES__CREDENTIALS": '{api_key = "MY_KEY_VAR"}',
            "ONEMATTER__HUB__AS_OF": "2024-01-02",
        }
    )
    env = embed_environment(base, {"utilities": "http://127.0.0.1:4002"}, date(2024, 1, 2))
    assert "ONEMATTER__CONNECTORS__UTILITIES__CREDENTIALS" not in env
    assert "ONEMATTER__HUB__AS_OF" not in env


def test_demo_credentials_never_overwrite() -> None:
    environ = {"ONEMATTER_UTILITIES_API_KEY": "real-key"}
    set_demo_credentials(environ)
    assert environ == {
        "ONEMATTER_UTILITIES_API_KEY": "real-key",
        "ONEMATTER_REAL_ESTATE_CLIENT_ID": "onematter-hub",
        "ONEMATTER_REAL_ESTATE_CLIENT_SECRET": "demo-secret",
    }


def test_demo_date_follows_the_named_cases() -> None:
    assert DEMO_AS_OF > date(2023, 9, 28)


def test_start_and_stop_departments_in_the_background() -> None:
    embedded = start_embedded(["planning", "fire"], seed=7, projects=12, as_of=DEMO_AS_OF)
    try:
        assert set(embedded.urls) == {"planning", "fire"}
        assert embedded.as_of == DEMO_AS_OF and embedded.projects == 12
        for url in embedded.urls.values():
            response = httpx.get(f"{url}/_admin/stats", timeout=10)
            assert response.status_code == 200
    finally:
        embedded.stop()
    for url in embedded.urls.values():
        try:
            httpx.get(f"{url}/_admin/stats", timeout=2)
        except httpx.TransportError:
            continue
        raise AssertionError(f"{url} still answers after stop()")


def test_a_mapping_override_keeps_the_department_embedded() -> None:
    """`ONEMATTER__CONNECTORS__FIRE__MAPPING=... make run`: the demo runs the mapped fire department."""
    environ = {"ONEMATTER__CONNECTORS__FIRE__MAPPING": "connectors/mappings/fire.toml"}
    settings = settings_from(environ)
    assert "fire" in departments_to_embed(settings)
    env = embed_environment(settings, {"fire": "http://127.0.0.1:4003"}, date(2023, 10, 31))
    worker = settings_from({**environ, **env})
    assert worker.connectors["fire"].mapping == "connectors/mappings/fire.toml"
    assert worker.connectors["fire"].base_url == "http://127.0.0.1:4003"
