"""Building a Strawberry type from a record whose attributes share its field names."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


_FIELDS: dict[type, frozenset[str]] = {}  # per type: the fields its constructor takes


def copied(cls: type[T], source: Any, **overrides: Any) -> T:
    """``cls`` with each field taken from ``source``'s attribute of that name, or from ``overrides``."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in dataclasses.fields(cls) if f.init)  # type: ignore[arg-type]
    unknown = overrides.keys() - names
    if unknown:  # a typo would otherwise be dropped silently
        raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
    return cls(**{n: overrides[n] if n in overrides else getattr(source, n) for n in names})
