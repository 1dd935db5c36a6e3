"""Per-connector settings: one ``[connectors.NAME]`` table of the hub's TOML file.

Credentials are never in the file: the file names the environment variables
that hold them (``credentials = {api_key = "ONEMATTER_UTILITIES_API_KEY"}``),
and ``secret()`` reads them when the connector is built. Settings objects never
print a secret's value.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import ConfigError

OptionT = TypeVar("OptionT", int, float, str)
_KINDS: dict[type, str] = {int: "a whole number", float: "a number", str: "a string"}


class OptionError(ConfigError):
    """A ``[connectors.NAME.options]`` value is unusable; ``key`` names it, ``problem`` says why.

    Raised while the connector is built; ``build_connectors`` adds the connector's name.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class RetrySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(3, ge=1, le=10, description="attempts in all, the first included")
    backoff_s: float = Field(0.05, ge=0, description="first backoff; doubles each retry")
    max_backoff_s: float = Field(1.0, ge=0)
    jitter_s: float = Field(0.05, ge=0)


class CacheSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_s: float = Field(30.0, ge=0, description="fresh for this long; 0: every call goes upstream")
    stale_s: float = Field(
        600.0, ge=0, description="then served only if the department fails; 0 with ttl_s 0: no cache at all"
    )


class BreakerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failures: int = Field(5, ge=1, description="consecutive failures that open the breaker")
    reset_s: float = Field(10.0, gt=0, description="open this long before a half-open probe")


class ConnectorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    base_url: str | None = None
    deadline_s: float = Field(2.0, gt=0, description="the whole call, retries included")
    retry: RetrySettings = RetrySettings()
    cache: CacheSettings = CacheSettings()
    breaker: BreakerSettings = BreakerSettings()
    credentials: dict[str, str] = Field(
        default_factory=dict, description="credential name -> environment variable holding it"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="connector-specific")
    mapping: str | None = Field(
        None, description="a mapping file (TOML) that defines this department; replaces a registered class"
    )

    def option(self, key: str, default: OptionT, *, minimum: float | None = None) -> OptionT:
        """The option ``key`` (``default`` if unset), of ``default``'s type; else ``OptionError``.

        A whole number is accepted where a number is expected; a boolean never is.
        ``minimum``, if given, is the smallest value accepted.
        """
        value: Any = self.options.get(key, default)
        kind = type(default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise OptionError(key, f"must be {_KINDS[kind]} (got {_shown(value)})")
        if minimum is not None and not isinstance(value, str) and value < minimum:
            raise OptionError(key, f"must be at least {minimum:g} (got {value!r})")
        return value

    def secret(self, name: str, *, default_env: str | None = None) -> str | None:
        """The credential ``name``, read from the environment variable the file names.

        ``default_env`` is the variable read when the file names none for ``name``
        (the connector's documented default, e.g. ``ONEMATTER_UTILITIES_API_KEY``).
        """
        var = self.credentials.get(name, default_env)
        return os.environ.get(var) if var else None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."
