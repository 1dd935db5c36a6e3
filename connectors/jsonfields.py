"""Typed field getters the JSON connectors share, and a safe path segment.

The getters raise ``TypeError``/``KeyError``/``ValueError`` on a wrong shape;
``connectors.failures.parsed`` turns any of those into ``DepartmentMalformed``
(naming the exception type, never payload text), so a connector's parser reads
like the department's document and still never guesses.

Each getter checks the object and reads the key itself rather than calling
:func:`get` (and an ``opt_`` getter does not call its plain twin): a cold
matter reads about 290 fields, and one Python call per read instead of two or
three was part of the connectors' saving measured in docs/performance.md.
Dates are parsed once per string (a bounded LRU); a failed parse is not kept.
"""

from __future__ import annotations

import functools
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


# Each getter checks the object and reads the key itself, not through ``get``: about
# 290 getter calls per matter, and a Python call costs as much as the checks. The
# errors are the same as ``get``'s (TypeError "expected an object", KeyError).


def get(raw: Any, key: str) -> Any:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    return raw[key]


def string(raw: Any, key: str) -> str:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    value = raw[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def opt_string(raw: Any, key: str) -> str | None:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    value = raw[key]
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{key} is not a string")


def text(raw: Any, key: str) -> str:
    """A string that must not be empty (an identifier, a label)."""
    value = string(raw, key)
    if not value:
        raise ValueError(f"{key} is empty")
    return value


def opt_text(raw: Any, key: str) -> str | None:
    return None if get(raw, key) is None else text(raw, key)


def integer(raw: Any, key: str) -> int:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is not an integer")
    return value


def opt_integer(raw: Any, key: str) -> int | None:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    value = raw[key]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is not an integer")
    return value


def number(raw: Any, key: str) -> float:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} is not a number")
    return float(value)


def boolean(raw: Any, key: str) -> bool:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    value = raw[key]
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
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    value = raw[key]
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def opt_obj(raw: Any, key: str) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    value = raw[key]
    if value is None or isinstance(value, dict):
        return value
    raise TypeError(f"{key} is not an object")


def array(raw: Any, key: str) -> list[Any]:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    value = raw[key]
    if not isinstance(value, list):
        raise TypeError(f"{key} is not a list")
    return value


def strings(raw: Any, key: str) -> list[str]:
    values = array(raw, key)
    if not all(isinstance(v, str) for v in values):
        raise TypeError(f"{key} is not a list of strings")
    return values


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@functools.lru_cache(maxsize=4096)
def _iso_date(value: str) -> date | None:
    """``value`` as a date, None if it is not ``YYYY-MM-DD``; an impossible day raises ValueError.

    Cached: the same few dates recur in every answer (a ValueError is not cached).
    """
    if _ISO_DATE.fullmatch(value) is None:
        return None
    return date.fromisoformat(value)


def iso_date(raw: Any, key: str) -> date:
    """A ``2024-03-05`` date and nothing else (no time, no week date, no other digits)."""
    day = _iso_date(string(raw, key))
    if day is None:
        raise ValueError(f"{key} is not a YYYY-MM-DD date")
    return day


def opt_iso_date(raw: Any, key: str) -> date | None:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    value = raw[key]
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    day = _iso_date(value)
    if day is None:
        raise ValueError(f"{key} is not a YYYY-MM-DD date")
    return day
