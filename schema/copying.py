"""Building a Strawberry type from a record whose attributes share its field names."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


# Per type and overridden names (in the order a call site passes them): the fields read from the source.
_TAKEN: dict[tuple[type, tuple[str, ...]], tuple[str, ...]] = {}


def copied(cls: type[T], source: Any, **overrides: Any) -> T:
    """``cls`` with each field taken from ``source``'s attribute of that name, or from ``overrides``."""
    key = (cls, tuple(overrides))
    taken = _TAKEN.get(key)
    if taken is None:
        names = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
        unknown = overrides.keys() - set(names)
        if unknown:  # a typo would otherwise be dropped silently
            raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
        taken = _TAKEN[key] = tuple(n for n in names if n not in overrides)
    for name in taken:
        overrides[name] = getattr(source, name)
    return cls(**overrides)
