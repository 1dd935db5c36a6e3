"""Strawberry types built from records by field name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from schema.copying import copied
from schema.ledger import BusinessSystem


def test_fields_come_from_the_source_unless_overridden() -> None:
    source = SimpleNamespace(code="S1", name="审批系统", bureau_code="B1", extra="ignored")
    assert copied(BusinessSystem, source) == BusinessSystem(code="S1", name="审批系统", bureau_code="B1")
    assert copied(BusinessSystem, source, name="其他").name == "其他"


def test_an_override_naming_no_field_is_refused() -> None:
    with pytest.raises(TypeError, match="bureau"):
        copied(BusinessSystem, SimpleNamespace(code="S1", name="n", bureau_code="B1"), bureau="B2")


def test_each_set_of_overrides_reads_the_rest_from_its_source() -> None:
    """What is read from the source is worked out once per type and overridden names."""
    first = SimpleNamespace(code="S1", name="一", bureau_code="B1")
    second = SimpleNamespace(code="S2", name="二", bureau_code="B2")
    assert copied(BusinessSystem, first, name="x") == BusinessSystem(code="S1", name="x", bureau_code="B1")
    assert copied(BusinessSystem, second, name="y") == BusinessSystem(code="S2", name="y", bureau_code="B2")
    assert copied(BusinessSystem, second) == BusinessSystem(code="S2", name="二", bureau_code="B2")
    assert copied(BusinessSystem, first, code="c", bureau_code="b").name == "一"
    for _ in range(2):
        with pytest.raises(TypeError, match="bureau"):
            copied(BusinessSystem, first, bureau="B2")
