"""Typed field getters the JSON connectors share, and a safe path segment.

The getters raise ``TypeError``/``KeyError``/``ValueError`` on a wrong shape;
``connectors.failures.parsed`` turns any of those into ``DepartmentMalformed``
(naming the exception type, never payload text), so a connector's parser reads
like the department's document and still never guesses.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import quote

__all__ = [
    "array",
    "boolean",
    "flag",
    "get",
    "integer",
    "iso_date",
    "number",
    "obj",
    "opt_integer",
    "opt_iso_date",
    "opt_obj",
    "opt_string",
    "opt_text",
    "segment",
    "string",
    "strings",
    "text",
]


def segment(value: str) -> str:
    """A path segment, percent-encoded so that a code can never change the path."""
    return quote(value, safe="")


def get(raw: Any, key: str) -> Any:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    return raw[key]


def string(raw: Any, key: str) -> str:
    value = get(raw, key)
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def opt_string(raw: Any, key: str) -> str | None:
    return None if get(raw, key) is None else string(raw, key)


def text(raw: Any, key: str) -> str:
    """A string that must not be empty (an identifier, a label)."""
    value = string(raw, key)
    if not value:
        raise ValueError(f"{key} is empty")
    return value


def opt_text(raw: Any, key: str) -> str | None:
    return None if get(raw, key) is None else text(raw, key)


def integer(raw: Any, key: str) -> int:
    value = get(raw, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is not an integer")
    return value


def opt_integer(raw: Any, key: str) -> int | None:
    return None if get(raw, key) is None else integer(raw, key)


def number(raw: Any, key: str) -> float:
    value = get(raw, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} is not a number")
    return float(value)


def boolean(raw: Any, key: str) -> bool:
    value = get(raw, key)
    if not isinstance(value, bool):
        raise TypeError(f"{key} is not a boolean")
    return value


def flag(raw: Any, key: str) -> bool:
    """A 0/1 integer flag, as some departments' databases store booleans."""
    value = integer(raw, key)
    if value not in (0, 1):
        raise ValueError(f"{key} is not 0 or 1")
    return value == 1


def obj(raw: Any, key: str) -> dict[str, Any]:
    value = get(raw, key)
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def opt_obj(raw: Any, key: str) -> dict[str, Any] | None:
    return None if get(raw, key) is None else obj(raw, key)


def array(raw: Any, key: str) -> list[Any]:
    value = get(raw, key)
    if not isinstance(value, list):
        raise TypeError(f"{key} is not a list")
    return value


def strings(raw: Any, key: str) -> list[str]:
    values = array(raw, key)
    if not all(isinstance(v, str) for v in values):
        raise TypeError(f"{key} is not a list of strings")
    return values


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def iso_date(raw: Any, key: str) -> date:
    """A ``2024-03-05`` date and nothing else (no time, no week date, no other digits)."""
    value = string(raw, key)
    if _ISO_DATE.fullmatch(value) is None:
        raise ValueError(f"{key} is not a YYYY-MM-DD date")
    return date.fromisoformat(value)


def opt_iso_date(raw: Any, key: str) -> date | None:
    return None if get(raw, key) is None else iso_date(raw, key)
