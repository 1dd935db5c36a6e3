"""``onematter serve``: run the hub under uvicorn (uvloop, httptools).

With no configuration the hub is the embedded demo: the five simulated
department systems on loopback ports, a SQLite registry and an in-memory cache.
With ``--workers N`` (N > 1) uvicorn imports ``gateway.app:create_app_from_env``
in each worker; the configuration path and the embedded departments' URLs reach
the workers through the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from domain.errors import ConfigError

if TYPE_CHECKING:
    from gateway.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="TOML configuration file (optional)")
    parser.add_argument("--host", default=None, help="interface to bind (default: hub.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: hub.port, 8000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: hub.workers; unset: one per CPU core in production, 1 in demo)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )


MAX_DEFAULT_WORKERS = 8


def default_workers(settings: Settings) -> int:
    """Workers when neither ``--workers`` nor ``hub.workers`` says: one per usable core in production.

    One process uses one core (the GIL), so a production hub runs one worker per CPU
    this process may use (its affinity, which containers limit), at most
    ``MAX_DEFAULT_WORKERS``; a demo runs one (the embedded departments and GraphiQL's
    single in-memory state need no more). Measured in docs/performance.md.
    """
    if settings.hub.mode != "production":
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway import embedded
    from gateway.app import CONFIG_ENV, create_app
    from gateway.config import load_settings
    from gateway.logging import logging_config, ops_settings
    from gateway.metrics import prepare_workers
    from gateway.security import limits_settings

    config_path = args.config.resolve() if args.config else None
    try:
        settings = load_settings(config_path)
        ops = ops_settings(settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings.hub.host
    port = settings.hub.port if args.port is None else args.port
    workers = settings.hub.workers if args.workers is None else args.workers
    if workers is None:
        workers = default_workers(settings)
    if not 0 <= port <= 65535:
        print(f"error: --port must be 0-65535 (got {port})", file=sys.stderr)
        return 2
    if not 1 <= workers <= 64:
        print(f"error: --workers must be 1-64 (got {workers})", file=sys.stderr)
        return 2
    try:
        # Every section the app reads, validated here, once: a mistake is one line and
        # exit 2 before any worker starts (a worker failing on it would be restarted forever).
        check_sections(settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    taken = _port_taken(host, port)
    if taken is not None:
        print(
            f"error: cannot listen on {host}:{port}: {taken}; pick another port with --port N "
            "(make run PORT=N) or [hub] port",
            file=sys.stderr,
        )
        return 2

    shown = shown_host(host)
    # The simulated departments push their changes to this hub's webhooks (port 0: unknown).
    departments = embedded.apply(settings, hub_url=f"http://{shown}:{port}" if port else None)
    try:
        if departments is not None:
            settings = load_settings(config_path)  # now with the departments' URLs
        # Build everything once before serving: a configuration mistake (unknown
        # connector, bad database URL, unreachable Redis) is one clear line here, not a
        # traceback per worker; and the registry is migrated once, not by N workers racing.
        problem = asyncio.run(_preflight(settings, seed_ledger=departments is not None))
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        _print_banner(host, port, workers, departments, settings.registry.database_url)
        limits = limits_settings(settings)
        common = {
            "host": host,
            "port": port,
            "loop": "uvloop",
            # httptools, with a deadline on the request head and a cap on its size.
            "http": functools.partial(
                GuardedHttpProtocol,
                header_timeout_s=limits.header_timeout_s,
                max_header_bytes=limits.max_header_bytes,
            ),
            # Idle keep-alive connections (and fresh ones that send nothing) are closed.
            "timeout_keep_alive": limits.idle_timeout_s,
            "ws": "websockets-sansio",  # subscriptions over graphql-transport-ws
            "log_level": args.log_level,
            "proxy_headers": False,
            "server_header": False,
            # JSON lines with the request id (gateway/logging.py), which also writes the access log.
            "log_config": logging_config(args.log_level, ops.log_format),
            "access_log": False,
        }
        if workers > 1:
            if config_path is not None:
                os.environ[CONFIG_ENV] = str(config_path)
            cleanup = prepare_workers(workers)  # one /metrics for all workers
            try:
                uvicorn.run("gateway.app:create_app_from_env", factory=True, workers=workers, **common)
            finally:
                cleanup()
        else:
            uvicorn.run(create_app(settings), **common)
    finally:
        if departments is not None:
            departments.stop()
    return 0


def _port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound (in use, not an address here), or None.

    Checked before anything starts, so a busy port is one line, not the bind error
    buried under the embedded departments' start-up. A race with another process
    binding in between still fails in uvicorn, only less readably.
    """
    import errno
    import socket

    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"the host is not known ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: SO_REUSEADDR, so a port in TIME_WAIT is not "taken".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "the port is already in use"
            return exc.strerror or str(exc)
    return None


def check_sections(settings: Settings) -> None:
    """Validate the sections the app validates lazily ([auth], [limits], [ops], trusted documents).

    Raises :class:`ConfigError` with one line naming the key at fault.
    """
    from gateway import security
    from gateway.changes import push_settings
    from gateway.logging import ops_settings

    ops_settings(settings)
    push_settings(settings)  # [push]: subscriptions and department webhooks
    security.middleware(settings)  # [limits], [limits.cors], [auth] (keys, secrets)
    security.extensions(settings)  # introspection and masking per mode, the trusted-documents manifest


async def _preflight(settings: Settings, *, seed_ledger: bool = False) -> str | None:
    """None if the services build; else what is wrong, in one line.

    With ``seed_ledger`` (the embedded demo) an empty registry gets the zone
    report's delegation ledger, so auditors see the 346 items at once; a
    registry that holds anything is left as it is.
    """
    from domain.errors import HubError
    from gateway.services import Services

    try:
        services = await Services.open(settings)
    except HubError as exc:  # ConfigError and its kind (cache, connectors, parts, services) included
        return str(exc)
    except OSError as exc:  # e.g. the database or Redis is unreachable
        return f"cannot start: {exc}"
    try:
        if seed_ledger:
            from registry.seed import SeedError, seed

            try:
                await seed(services.registry)
            except SeedError:
                pass  # the ledger already holds data: never overwrite it
    finally:
        await services.aclose()
    return None


def shown_host(host: str) -> str:
    """The host to put in a URL for ``host`` (loopback for "all interfaces")."""
    return f"[{host}]" if ":" in host else ("127.0.0.1" if host in ("0.0.0.0", "") else host)


def _print_banner(host: str, port: int, workers: int, departments: object, database_url: str) -> None:
    from gateway.embedded import EmbeddedDepartments

    shown = shown_host(host)
    lines = [
        "OneMatter Hub",
        f"  GraphQL and GraphiQL  http://{shown}:{port}/graphql",
        f"  reference portal      http://{shown}:{port}/portal",
        f"  workers               {workers}",
        f"  registry              {_without_password(database_url)}",
    ]
    if isinstance(departments, EmbeddedDepartments):
        lines.append(
            f"  embedded departments  (simulated; {departments.projects} projects, "
            f"as of {departments.as_of.isoformat()})"
        )
        lines += [f"    {name:<20}{url}" for name, url in departments.urls.items()]
    print("\n".join(lines), flush=True)


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # only for display; the registry reports bad URLs itself
        return "(unparseable URL)"


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's head.

    uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but, once
    a byte has arrived, waits for the rest of the head for ever, and a connection
    that never sends anything is never closed. Here a request head (request line
    and headers) must be complete within ``header_timeout_s`` of the connection
    opening or of the previous response, and at most ``max_header_bytes`` long;
    otherwise the answer is 408 (or 431) and the connection is closed. The body
    is the application's to time (``[limits] body_timeout_s``).
    """

    def __init__(
        self, *args: Any, header_timeout_s: float = 10.0, max_header_bytes: int = 32_768, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.max_header_bytes = max_header_bytes
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_timer is not None:  # still waiting for a head to complete
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._refuse(431, b"the request head is too large")
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # The next request's head gets its own deadline, from now (unless it was pipelined
        # and is already parsed).
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._await_head()

    def _await_head(self) -> None:
        self._stop_head_timer()
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes == 0:
            self.transport.close()  # nothing asked: just close, as an idle keep-alive
            return
        self._refuse(408, b"the request head did not arrive in time")

    def _refuse(self, status: int, message: bytes) -> None:
        self._stop_head_timer()
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, reason, len(message), message)
        )
        self.transport.close()
