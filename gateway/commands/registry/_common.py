"""What the registry commands share: the database option, error reporting, progress."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TextIO

PROG = "onematter registry"


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="registry database, sqlite:///FILE or postgresql://HOST/DB "
        "(default: registry.database_url from the hub configuration)",
    )
    parser.add_argument("--config", metavar="FILE", help="hub configuration file (TOML)")


def database_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    from gateway.config import load_settings

    return load_settings(args.config).registry.database_url


def run_async(args: argparse.Namespace, main: Callable[[str], Coroutine[Any, Any, int]]) -> int:
    """Resolve the database, run ``main(url)``, and turn expected failures into messages."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from domain.errors import ConfigError, HubError

    try:
        return asyncio.run(main(database_url(args)))
    except ConfigError as exc:
        return fail(str(exc))
    except HubError as exc:
        return fail(str(exc))
    except BrokenPipeError:  # the reader went away (``| head``): nothing left to say
        return 0
    except (OSError, OperationalError) as exc:
        # Never echo the URL: it may carry a password.
        reason = getattr(exc, "strerror", None) or type(getattr(exc, "orig", exc)).__name__
        return fail(f"cannot reach the registry database ({reason})")
    except DBAPIError as exc:
        return fail(f"the registry database refused the operation ({type(exc.orig).__name__})")


def fail(message: str, code: int = 1) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


class TerminalProgress:
    """Progress on one rewritten line, only when stderr is a terminal."""

    LABELS: ClassVar[dict[str, str]] = {"read": "reading", "check": "checking", "write": "writing"}

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.shown = False

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        label = self.LABELS.get(phase, phase)
        counted = f"{done:,}/{total:,}" if total else f"{done:,}"
        self.stream.write(f"\r{label} {counted} rows".ljust(40))
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False
