"""Schema extensions' lifecycle hooks, run without rebuilding their wrappers on every request.

Strawberry runs an operation's extension hooks (``on_operation``,
``on_parse``, ``on_validate``, ``on_execute``, ``on_stream_result``) as
context managers, and for every request and every phase it looks up each
extension's hook, wraps a generator hook with ``contextlib.contextmanager``
(a new wrapper function each time) and enters it on an ``ExitStack``: about
forty look-ups and a dozen wrappers per request for the hub's ten extensions.

:class:`HubExtensionsRunner` is Strawberry's runner with the same hooks run
the same way: which hooks an extension class overrides, and of which kind, is
found once per class (and which extensions of a schema's list hook into each
phase, once per list of classes); a phase then drives the hook generators
itself, in extension order on the way in and in reverse on the way out, with
the semantics of ``contextlib.contextmanager`` on an ``ExitStack``: an
exception in the phase is thrown into each hook (a hook may handle it, then
the hooks outside it finish normally, or replace it with its own), a hook
must yield exactly once, and async hooks are refused in a synchronous run
with Strawberry's message. As in Strawberry, the phase itself never swallows
its exception. When a hook fails before it yields, the hooks already started
are closed (Strawberry leaves them to the garbage collector); their code after
``yield`` does not run, as in Strawberry. ``get_results`` is asked only of
extensions that override it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext
from strawberry.utils.await_maybe import await_maybe

__all__ = ["HubExtensionsRunner"]

PHASES = ("on_operation", "on_validate", "on_parse", "on_execute", "on_stream_result")

# A hook's kind: how it is started and finished.
GEN, ASYNC_GEN, CALL, ASYNC_CALL = "gen", "async_gen", "call", "async_call"

Hook = tuple[str, Callable[..., Any]]  # (kind, the class's function)


class _Plan:
    """One extension class's overridden hooks, by phase, and whether it has results."""

    __slots__ = ("has_results", "hooks")

    def __init__(self, cls: type[SchemaExtension]) -> None:
        self.hooks: dict[str, Hook] = {}
        for phase in PHASES:
            function = getattr(cls, phase)
            if function is getattr(SchemaExtension, phase):
                continue  # not overridden: Strawberry skips it too
            if inspect.isgeneratorfunction(function):
                self.hooks[phase] = (GEN, function)
            elif inspect.isasyncgenfunction(function):
                self.hooks[phase] = (ASYNC_GEN, function)
            elif inspect.iscoroutinefunction(function):
                self.hooks[phase] = (ASYNC_CALL, function)
            elif callable(function):
                self.hooks[phase] = (CALL, function)
            else:
                raise ValueError(f"Hook {phase} on {cls} must be callable, received {function!r}")
        self.has_results = cls.get_results is not SchemaExtension.get_results


_plans: dict[type[SchemaExtension], _Plan] = {}


def _plan(cls: type[SchemaExtension]) -> _Plan:
    plan = _plans.get(cls)
    if plan is None:
        plan = _plans[cls] = _Plan(cls)
    return plan


class _Outcome:
    """The exception travelling out through a phase's hooks, as ``ExitStack`` tracks it."""

    __slots__ = ("exc", "pending", "trace")

    def __init__(self, exc: BaseException | None, trace: TracebackType | None) -> None:
        self.exc = exc
        self.trace = trace
        self.pending = False  # a hook raised an exception of its own

    def replace(self, raised: BaseException) -> None:
        if raised is not self.exc and raised.__context__ is None:
            raised.__context__ = self.exc
        self.exc, self.trace, self.pending = raised, raised.__traceback__, True

    def stopped(self, stop: BaseException) -> None:
        """The hook returned after the exception was thrown in: it handled it."""
        if stop is not self.exc:
            self.exc, self.trace, self.pending = None, None, False

    def raised(self, raised: BaseException) -> None:
        exc = self.exc
        # The same exception, or (PEP 479) a StopIteration thrown in and turned into a RuntimeError.
        if raised is exc or (
            isinstance(raised, RuntimeError)
            and isinstance(exc, StopIteration | StopAsyncIteration)
            and raised.__cause__ is exc
        ):
            if exc is not None:
                exc.__traceback__ = self.trace  # as contextlib: the hook's frames are not added
            return
        self.replace(raised)

    def finish(self) -> bool:
        """Raise what a hook raised; else let the phase's own exception (if any) go on.

        As in Strawberry, a hook that handles the exception lets the hooks outside it
        finish normally, but the phase does not swallow it.
        """
        if self.pending and self.exc is not None:
            raise self.exc
        return False


class _Phase:
    """One phase's hooks as one context manager (sync or async)."""

    __slots__ = ("args", "hooks", "name", "started")

    def __init__(
        self, name: str, hooks: list[tuple[SchemaExtension, str, Callable[..., Any]]], args: tuple[Any, ...]
    ):
        self.name = name
        self.hooks = hooks
        self.args = args
        self.started: list[tuple[str, Any]] = []

    # -- synchronous -------------------------------------------------------------------

    def __enter__(self) -> None:
        started = self.started = []
        try:
            for extension, kind, function in self.hooks:
                if kind is ASYNC_GEN or kind is ASYNC_CALL:
                    raise RuntimeError(
                        f"SchemaExtension hook {extension}.{self.name} failed to complete synchronously."
                    )
                if kind is CALL:
                    function(extension, *self.args)
                    continue
                generator = function(extension, *self.args)
                try:
                    next(generator)
                except StopIteration:
                    raise RuntimeError("generator didn't yield") from None
                started.append((GEN, generator))
        except BaseException:
            self._close_sync()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        started, self.started = self.started, []
        outcome = _Outcome(exc, tb)
        for _kind, generator in reversed(started):
            if outcome.exc is None:
                try:
                    next(generator)
                except StopIteration:
                    continue
                except BaseException as raised:
                    outcome.replace(raised)
                    continue
                generator.close()
                outcome.replace(RuntimeError("generator didn't stop"))
                continue
            try:
                generator.throw(outcome.exc)
            except StopIteration as stop:
                outcome.stopped(stop)
                continue
            except BaseException as raised:
                outcome.raised(raised)
                continue
            generator.close()
            outcome.replace(RuntimeError("generator didn't stop after throw()"))
        return outcome.finish()

    def _close_sync(self) -> None:
        started, self.started = self.started, []
        for _kind, generator in reversed(started):
            generator.close()

    # -- asynchronous ------------------------------------------------------------------

    async def __aenter__(self) -> None:
        started = self.started = []
        try:
            for extension, kind, function in self.hooks:
                if kind is CALL:
                    function(extension, *self.args)
                elif kind is ASYNC_CALL:
                    await function(extension, *self.args)
                elif kind is GEN:
                    generator = function(extension, *self.args)
                    try:
                        next(generator)
                    except StopIteration:
                        raise RuntimeError("generator didn't yield") from None
                    started.append((GEN, generator))
                else:
                    agen = function(extension, *self.args)
                    try:
                        await agen.__anext__()
                    except StopAsyncIteration:
                        raise RuntimeError("generator didn't yield") from None
                    started.append((ASYNC_GEN, agen))
        except BaseException:
            await self._close_async()
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        started, self.started = self.started, []
        outcome = _Outcome(exc, tb)
        for kind, generator in reversed(started):
            if outcome.exc is None:
                try:
                    if kind is GEN:
                        next(generator)
                    else:
                        await generator.__anext__()
                except (StopIteration, StopAsyncIteration):
                    continue
                except BaseException as raised:
                    outcome.replace(raised)
                    continue
                await _close(kind, generator)
                outcome.replace(RuntimeError("generator didn't stop"))
                continue
            try:
                if kind is GEN:
                    generator.throw(outcome.exc)
                else:
                    await generator.athrow(outcome.exc)
            except (StopIteration, StopAsyncIteration) as stop:
                outcome.stopped(stop)
                continue
            except BaseException as raised:
                outcome.raised(raised)
                continue
            await _close(kind, generator)
            outcome.replace(RuntimeError("generator didn't stop after throw()"))
        return outcome.finish()

    async def _close_async(self) -> None:
        started, self.started = self.started, []
        for kind, generator in reversed(started):
            await _close(kind, generator)


async def _close(kind: object, generator: Any) -> None:
    if kind is GEN:
        generator.close()
    else:
        await generator.aclose()


class _Lineup:
    """For one list of extension classes: per phase, which of them hook in, how, in order."""

    __slots__ = ("phases", "with_results")

    def __init__(self, classes: tuple[type[SchemaExtension], ...]) -> None:
        plans = [_plan(cls) for cls in classes]
        self.phases: dict[str, tuple[tuple[int, str, Callable[..., Any]], ...]] = {
            phase: tuple((i, *plan.hooks[phase]) for i, plan in enumerate(plans) if phase in plan.hooks)
            for phase in PHASES
        }
        self.with_results = tuple(i for i, plan in enumerate(plans) if plan.has_results)


_lineups: dict[tuple[type[SchemaExtension], ...], _Lineup] = {}


def _lineup(extensions: list[SchemaExtension]) -> _Lineup:
    classes = tuple(type(extension) for extension in extensions)
    lineup = _lineups.get(classes)
    if lineup is None:
        lineup = _lineups[classes] = _Lineup(classes)
    return lineup


class HubExtensionsRunner(SchemaExtensionsRunner):
    """Strawberry's extension runner with each class's hooks found once (see the module doc)."""

    def __init__(self, execution_context: ExecutionContext, extensions: list[SchemaExtension] | None = None):
        super().__init__(execution_context, extensions)
        self._lineup = _lineup(self.extensions)

    def _phase(self, name: str, *args: Any) -> Any:
        extensions = self.extensions
        hooks = [(extensions[i], kind, function) for i, kind, function in self._lineup.phases[name]]
        return _Phase(name, hooks, args)

    def operation(self) -> Any:
        return self._phase("on_operation")

    def validation(self) -> Any:
        return self._phase("on_validate")

    def parsing(self) -> Any:
        return self._phase("on_parse")

    def executing(self) -> Any:
        return self._phase("on_execute")

    def on_stream_result(self, result: Any) -> Any:
        return self._phase("on_stream_result", result)

    def get_extensions_results_sync(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for i in self._lineup.with_results:
            extension = self.extensions[i]
            if inspect.iscoroutinefunction(extension.get_results):
                raise RuntimeError("Cannot use async extension hook during sync execution")
            data.update(extension.get_results())  # type: ignore[arg-type]
        return data

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for i in self._lineup.with_results:
            data.update(await await_maybe(self.extensions[i].get_results()))
        data.update(ctx.extensions_results)
        return data
