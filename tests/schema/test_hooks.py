"""The hub's extension runner runs hooks as Strawberry's runner does (schema/hooks.py).

Each scenario runs one phase over the same extensions with both runners and
compares what the hooks saw, in order, and what left the phase.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from schema.hooks import HubExtensionsRunner

Events = list[str]


class Recording(SchemaExtension):
    """Logs into ``events`` under ``label``."""

    def __init__(self, events: Events, label: str) -> None:
        self.events = events
        self.label = label

    def __repr__(self) -> str:
        return self.label


class Plain(Recording):
    def on_operation(self) -> Iterator[None]:
        self.events.append(f"{self.label} in")
        try:
            yield
        except Exception as exc:
            self.events.append(f"{self.label} saw {type(exc).__name__}")
            raise
        self.events.append(f"{self.label} out")


class Swallows(Recording):
    """Handles a KeyError from inside."""

    def on_operation(self) -> Iterator[None]:
        self.events.append(f"{self.label} in")
        try:
            yield
        except KeyError:
            self.events.append(f"{self.label} handled KeyError")


class Replaces(Recording):
    """Turns a ValueError from inside into a TypeError."""

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        except ValueError as exc:
            self.events.append(f"{self.label} replaces")
            raise TypeError("replaced") from exc


class Async(Recording):
    async def on_operation(self) -> AsyncIterator[None]:
        self.events.append(f"{self.label} in")
        try:
            yield
        except Exception as exc:
            self.events.append(f"{self.label} saw {type(exc).__name__}")
            raise
        self.events.append(f"{self.label} out")


class AsyncSwallows(Recording):
    async def on_operation(self) -> AsyncIterator[None]:
        try:
            yield
        except KeyError:
            self.events.append(f"{self.label} handled KeyError")


class Call(Recording):
    def on_operation(self) -> None:  # type: ignore[override]
        self.events.append(f"{self.label} called")


class AsyncCall(Recording):
    async def on_operation(self) -> None:  # type: ignore[override]
        self.events.append(f"{self.label} awaited")


class FailsFirst(Recording):
    def on_operation(self) -> Iterator[None]:
        self.events.append(f"{self.label} fails")
        if self.label:
            raise LookupError("before yield")
        yield  # pragma: no cover


class FailsAfter(Recording):
    def on_operation(self) -> Iterator[None]:
        yield
        self.events.append(f"{self.label} fails after")
        raise LookupError("after yield")


class NoYield(Recording):
    def on_operation(self) -> Iterator[None]:
        self.events.append(f"{self.label} returns")
        if self.label:
            return
        yield  # pragma: no cover


class YieldsTwice(Recording):
    def on_operation(self) -> Iterator[None]:
        yield
        self.events.append(f"{self.label} again")
        yield


class NotOverridden(Recording):
    """Only get_results: no hook at all."""

    def get_results(self) -> dict[str, Any]:
        return {self.label: True}


KINDS: dict[str, type[Recording]] = {
    "plain": Plain,
    "swallows": Swallows,
    "replaces": Replaces,
    "async": Async,
    "async_swallows": AsyncSwallows,
    "call": Call,
    "async_call": AsyncCall,
    "fails_first": FailsFirst,
    "fails_after": FailsAfter,
    "no_yield": NoYield,
    "yields_twice": YieldsTwice,
    "none": NotOverridden,
}

STACKS = [
    ("plain", "plain"),
    ("plain", "swallows", "plain"),
    ("swallows", "replaces", "plain"),
    ("plain", "fails_after", "plain"),
    ("plain", "fails_first", "plain"),
    ("plain", "no_yield"),
    ("yields_twice", "plain"),
    ("call", "plain", "none"),
    ("async", "plain", "async_swallows"),
    ("async_call", "async", "replaces"),
    ("async", "fails_after", "async"),
    ("async_swallows", "swallows", "fails_after"),
]
BODIES: list[type[BaseException] | None] = [None, KeyError, ValueError, RuntimeError, asyncio.CancelledError]


def _extensions(stack: tuple[str, ...], events: Events) -> list[SchemaExtension]:
    return [KINDS[kind](events, f"{kind}{i}") for i, kind in enumerate(stack)]


@strawberry.type
class Query:
    ok: bool = True


SCHEMA = strawberry.Schema(query=Query)


def _context() -> ExecutionContext:
    return ExecutionContext(
        query="{ ok }", schema=SCHEMA, allowed_operations=frozenset({OperationType.QUERY})
    )


def _outcome(exc: BaseException | None) -> str:
    return "ok" if exc is None else f"{type(exc).__name__}: {exc}"


async def _run_async(
    runner_class: type[SchemaExtensionsRunner], stack: tuple[str, ...], body: Any
) -> tuple[Events, str]:
    events: Events = []
    runner = runner_class(_context(), _extensions(stack, events))
    try:
        async with runner.operation():
            events.append("body")
            if body is not None:
                raise body("in the body")
    except BaseException as exc:
        return events, _outcome(exc)
    return events, "ok"


def _run_sync(
    runner_class: type[SchemaExtensionsRunner], stack: tuple[str, ...], body: Any
) -> tuple[Events, str]:
    events: Events = []
    runner = runner_class(_context(), _extensions(stack, events))
    try:
        with runner.operation():
            events.append("body")
            if body is not None:
                raise body("in the body")
    except BaseException as exc:
        return events, _outcome(exc)
    return events, "ok"


@pytest.mark.parametrize("stack", STACKS, ids="-".join)
@pytest.mark.parametrize("body", BODIES, ids=lambda b: "ok" if b is None else b.__name__)
async def test_async_phase_runs_hooks_as_strawberry(stack: tuple[str, ...], body: Any) -> None:
    assert await _run_async(HubExtensionsRunner, stack, body) == await _run_async(
        SchemaExtensionsRunner, stack, body
    )


@pytest.mark.parametrize("stack", STACKS, ids="-".join)
@pytest.mark.parametrize("body", BODIES, ids=lambda b: "ok" if b is None else b.__name__)
def test_sync_phase_runs_hooks_as_strawberry(stack: tuple[str, ...], body: Any) -> None:
    assert _run_sync(HubExtensionsRunner, stack, body) == _run_sync(SchemaExtensionsRunner, stack, body)


def test_an_async_hook_in_a_sync_run_is_refused_as_strawberry_refuses_it() -> None:
    hub = _run_sync(HubExtensionsRunner, ("plain", "async"), None)
    assert hub == _run_sync(SchemaExtensionsRunner, ("plain", "async"), None)
    assert "failed to complete synchronously" in hub[1]


def test_a_hook_that_fails_before_yielding_closes_those_started() -> None:
    """Strawberry leaves them to the garbage collector; the code after their yield runs in neither."""
    closed: Events = []

    class Cleans(Recording):
        def on_operation(self) -> Iterator[None]:
            try:
                yield
                self.events.append("after yield")
            finally:
                closed.append(self.label)

    events: Events = []
    runner = HubExtensionsRunner(_context(), [Cleans(events, "a"), FailsFirst(events, "b")])
    with pytest.raises(LookupError):
        with runner.operation():
            pass  # pragma: no cover
    assert closed == ["a"]
    assert events == ["b fails"]


async def test_results_come_from_the_extensions_that_have_them() -> None:
    events: Events = []
    context = _context()
    extensions = _extensions(("plain", "none", "call"), events)
    assert await HubExtensionsRunner(context, extensions).get_extensions_results(context) == {"none1": True}
    assert HubExtensionsRunner(context, extensions).get_extensions_results_sync() == {"none1": True}
