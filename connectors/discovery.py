"""Finding and building connectors: built-in and third-party, the same way.

Every connector, the five built-in ones included, is registered through the
entry-point group ``onematter.connectors``: the entry point's name is the
connector's name (and its ``[connectors.NAME]`` table), its value a connector
class (``package.module:Class``), which is its own factory. Installing a
package that declares one is all it takes to add a department::

    [project.entry-points."onematter.connectors"]
    environment = "onematter_environment.connector:EnvironmentConnector"

A connector class may also name, by import path (``module:ATTRIBUTE``, loaded
with ``load_attribute``), its ``part`` of a matter (a ``schema.MatterPart``:
connectors know no GraphQL, so the class names it rather than imports it) and
its ``simulator`` (a callable returning a ``SimulatedSystem``, which the
embedded default starts like the five built-in department systems).
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from connectors.settings import ConnectorSettings, OptionError
from domain.errors import ConfigError

if TYPE_CHECKING:
    import httpx
    from aiocache.base import BaseCache

    from connectors.base import Connector, ConnectorFactory

GROUP = "onematter.connectors"
NAME_RULE = re.compile(r"[a-z][a-z0-9_]{0,39}")
log = logging.getLogger("onematter.connectors")


class ConnectorLoadError(ConfigError):
    """A connector entry point cannot be loaded or used; the message names it and says why."""


def _entry_points() -> list[EntryPoint]:
    # Deduplicated by name: an editable install can list the same entry point twice.
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        seen = found.get(ep.name)
        if seen is not None and seen.value != ep.value:
            raise ConnectorLoadError(
                f"connector {ep.name!r} is registered twice, as {seen.value} and as {ep.value}; "
                "uninstall one of the packages"
            )
        found.setdefault(ep.name, ep)
    return list(found.values())


def load_attribute(path: str) -> object:
    """The object ``module:ATTRIBUTE`` names; ``ValueError`` if the path is malformed.

    Import errors propagate: callers say which connector named the path.
    """
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{path!r} is not 'module:ATTRIBUTE'")
    return getattr(importlib.import_module(module_name), attribute)


def declared(factory: object, attribute: str) -> str | None:
    """The import path a connector class declares as ``part`` or ``simulator`` (None: none)."""
    path = getattr(factory, attribute, None)
    if path is not None and not isinstance(path, str):
        name = getattr(factory, "name", factory)
        raise ConnectorLoadError(f"connector {name!r}: {attribute} must be a 'module:ATTRIBUTE' string")
    return path


def available() -> dict[str, str]:
    """Registered connector names and the ``module:Class`` each points to, without importing them."""
    return {ep.name: ep.value for ep in sorted(_entry_points(), key=lambda ep: ep.name)}


def load(ep: EntryPoint) -> ConnectorFactory:
    """Import one entry point and check that it is a usable connector class."""
    if not NAME_RULE.fullmatch(ep.name):
        raise ConnectorLoadError(
            f"connector entry point {ep.name!r} is not a valid name "
            "(lower-case letters, digits and _, starting with a letter)"
        )
    try:
        factory = ep.load()
    except Exception as exc:
        raise ConnectorLoadError(
            f"connector {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    problems = []
    if not callable(factory):
        problems.append("it is not a class or callable")
    if getattr(factory, "name", None) != ep.name:
        problems.append(f"its name attribute is {getattr(factory, 'name', None)!r}, not {ep.name!r}")
    if not isinstance(getattr(factory, "title", None), str):
        problems.append("it has no title")
    if problems:
        raise ConnectorLoadError(f"connector {ep.name!r} ({ep.value}) is not usable: {'; '.join(problems)}")
    return factory  # type: ignore[no-any-return]


def discover(names: Callable[[str], bool] | None = None) -> dict[str, ConnectorFactory]:
    """Every registered connector class by name (only those ``names`` accepts, if given).

    Raises ``ConnectorLoadError`` for an entry point that fails to load.
    """
    return {
        ep.name: load(ep)
        for ep in sorted(_entry_points(), key=lambda ep: ep.name)
        if names is None or names(ep.name)
    }


def enabled_factories(settings_by_name: Mapping[str, ConnectorSettings]) -> dict[str, ConnectorFactory]:
    """The connector classes the configuration enables, by name (imported, nothing built).

    A connector with no ``[connectors.NAME]`` table gets the default settings
    (enabled); ``enabled = false`` skips it without importing it. A table naming
    no registered connector is an error: it is usually a typo.
    """
    registered = available()
    mapped = {n: s for n, s in settings_by_name.items() if s.mapping and s.enabled}
    unknown = sorted(
        n for n, s in settings_by_name.items() if n not in registered and n not in mapped and s.enabled
    )
    if unknown:
        raise ConnectorLoadError(
            f"[connectors.{unknown[0]}] names no installed connector; "
            f"installed: {', '.join(registered) or 'none'}"
        )
    wanted = {
        name for name in registered if settings_by_name.get(name, _DEFAULT).enabled and name not in mapped
    }
    factories = discover(lambda name: name in wanted)
    factories.update({name: _mapped(name, s.mapping) for name, s in mapped.items() if s.mapping})
    return factories


def build_connectors(
    settings_by_name: Mapping[str, ConnectorSettings],
    *,
    cache: BaseCache,
    client_for: Callable[[str], httpx.AsyncClient],
    factories: Mapping[str, ConnectorFactory] | None = None,
) -> dict[str, Connector]:
    """Build every enabled connector (``factories``, or ``enabled_factories(settings_by_name)``).

    ``client_for(name)`` returns the client for a department (the caller owns and closes it).
    """
    if factories is None:
        factories = enabled_factories(settings_by_name)
    connectors: dict[str, Connector] = {}
    for name, factory in factories.items():
        settings = settings_by_name.get(name, _DEFAULT)
        known: frozenset[str] | None = getattr(factory, "option_names", None)  # if the connector declares it
        stray = sorted(set(settings.options) - known) if known is not None else []
        if stray:
            raise ConnectorLoadError(
                f"invalid configuration: [connectors.{name}.options] {stray[0]}: unknown key "
                f"(known: {', '.join(sorted(known or ())) or 'none'})"
            )
        try:
            connectors[name] = factory(settings=settings, client=client_for(name), cache=cache)
        except OptionError as exc:
            raise ConnectorLoadError(
                f"invalid configuration: [connectors.{name}.options] {exc.key}: {exc.problem}"
            ) from exc
        except Exception as exc:
            raise ConnectorLoadError(
                f"connector {name!r} could not be built: {type(exc).__name__}: {exc}"
            ) from exc
        log.info("connector %s (%s) ready", name, factory.title)
    return connectors


_DEFAULT = ConnectorSettings()


def _mapped(name: str, path: str) -> ConnectorFactory:
    """The connector class a mapping file defines; its department must be the table's name."""
    from connectors.mapped import mapped_connector

    factory = mapped_connector(path)  # MappingError (a ConfigError) names the file, line and key
    if factory.name != name:
        raise ConnectorLoadError(
            f"[connectors.{name}] mapping {path} defines department {factory.name!r}, not {name!r}"
        )
    return factory
