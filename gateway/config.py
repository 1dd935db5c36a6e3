"""Configuration: one TOML file plus environment overrides.

The embedded default needs no file at all. An environment variable
``ONEMATTER__SECTION__KEY=value`` overrides ``[section] key`` (any depth, keys
lower-cased; the value is read as a TOML value when it parses as one, else as a
string), e.g. ``ONEMATTER__CONNECTORS__PLANNING__BASE_URL=http://10.1.2.3/``.
Secrets are never in the file: sections name the environment variables that
hold them.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.settings import ConnectorSettings
from domain.errors import ConfigError

ENV_PREFIX = "ONEMATTER__"


class HubSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="worker processes; default: one per usable CPU core (at most 8) in production mode, "
        "1 in demo mode (gateway/serve.py default_workers)",
    )
    mode: Literal["demo", "production"] = "demo"
    as_of: date | None = Field(None, description="pin 'today' for clocks (tests, demos)")
    embedded: bool = Field(
        True, description="start the simulated departments for connectors with no base_url"
    )
    directory: str = Field("planning", description="the connector that lists projects and enterprises")
    index_refresh_s: float = Field(
        60.0, gt=0, description="how often the matter index behind list filters is refreshed"
    )
    fixture_seed: int = 2023
    fixture_projects: int = 200


class RegistrySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database_url: str = "sqlite+aiosqlite:///onematter.db"


class CacheBackendSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str | None = None
    namespace: str = "onematter"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hub: HubSettings = HubSettings()
    registry: RegistrySettings = RegistrySettings()
    cache: CacheBackendSettings = CacheBackendSettings()
    connectors: dict[str, ConnectorSettings] = Field(default_factory=dict)
    # Sections owned by gateway/auth.py, gateway/security.py and gateway/logging.py; validated there.
    auth: dict[str, Any] = Field(default_factory=dict)
    limits: dict[str, Any] = Field(default_factory=dict)
    push: dict[str, Any] = Field(default_factory=dict)  # gateway/changes.py: subscriptions, webhooks
    ops: dict[str, Any] = Field(default_factory=dict)  # gateway/logging.py: logs, metrics, tracing


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment override {name} conflicts with another")
        node[path[-1]] = _parse_env_value(raw)
    return tree


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read ``path`` (if any), apply ``ONEMATTER__*`` overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from exc
    data = _merge(data, _env_overrides(dict(os.environ if environ is None else environ)))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None


def describe(exc: ValidationError, section: tuple[str, ...] = ()) -> str:
    """One line naming the key at fault and what is wrong with it, for every mistake found.

    ``section`` is where the validated mapping sits in the file (``("limits",)``
    for ``[limits]``), so the line names the table the way the file spells it.
    """
    problems = []
    for error in exc.errors():
        path = (*section, *(str(p) for p in error["loc"]))
        table, key = path[:-1], path[-1] if path else "?"
        where = f"[{'.'.join(table)}] {key}" if table else f"[{key}]"
        if error["type"] == "extra_forbidden":
            what = "unknown section" if not table else "unknown key"
            problems.append(f"{where}: {what}")
            continue
        message = error["msg"][:1].lower() + error["msg"][1:]
        if not _SECRET_LIKE.search(key):
            message += f" (got {_shown(error.get('input'))})"
        problems.append(f"{where}: {message}")
    return "invalid configuration: " + "; ".join(problems)


# Values under these keys may carry a password (a database URL): never echoed.
_SECRET_LIKE = re.compile(r"url|secret|password|token|credential", re.IGNORECASE)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
