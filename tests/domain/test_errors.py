"""The one error tree: every error class the hub defines is drawn in domain/errors.py's docstring."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from types import ModuleType

import pytest

import domain.errors
from domain.errors import ConnectorError, DepartmentRejected, DepartmentUnavailable, HubError

PACKAGES = ("domain", "connectors", "gateway", "schema", "registry")
DOC = domain.errors.__doc__ or ""
TREE, _, AFTER = DOC.partition("Outside the tree")


def _modules() -> Iterator[ModuleType]:
    for name in PACKAGES:
        package = importlib.import_module(name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if ".migrations" in info.name:  # Alembic's env.py runs migrations when imported
                continue
            yield importlib.import_module(info.name)


def _error_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in _modules():
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not value.__name__.startswith("_")
            ):
                found[f"{value.__module__}.{value.__name__}"] = value
    return list(found.values())


ERRORS = _error_classes()


def test_the_tree_draws_every_hub_error_and_nothing_else() -> None:
    root = re.search(r"::\n\n\s+(\w+)", TREE)
    assert root is not None and root.group(1) == "HubError"
    drawn = {root.group(1), *re.findall(r"[├└]── (\w+)", TREE)}
    defined = {c.__name__ for c in ERRORS if issubclass(c, HubError)}
    assert defined == drawn


def test_errors_outside_the_tree_are_named_with_the_reason() -> None:
    outside = {c.__name__ for c in ERRORS if not issubclass(c, HubError)}
    assert outside, "the walk found no error classes outside the tree: is it walking the packages?"
    assert {name for name in outside if name not in AFTER} == set()


def test_one_default_code() -> None:
    assert HubError("x").extensions() == {"code": "INTERNAL_SERVER_ERROR"}
    from schema.errors import INTERNAL_CODE

    assert INTERNAL_CODE == HubError.code  # what masking reports is the tree's default


@pytest.mark.parametrize("cls", [ConnectorError, DepartmentUnavailable])
def test_pipeline_attributes_are_declared_keyword_only(cls: type[ConnectorError]) -> None:
    plain = cls("m", department="d")
    assert (plain.transient, plain.retry_after, plain.attempts) == (False, None, 0)
    marked = cls("m", department="d", transient=True, retry_after=1.5, attempts=3)
    assert (marked.transient, marked.retry_after, marked.attempts) == (True, 1.5, 3)
    with pytest.raises(TypeError):
        cls("m", "d", True)  # type: ignore[misc]
    rejected = DepartmentRejected("m", department="d", status_code=403)
    assert not rejected.transient and rejected.status_code == 403
