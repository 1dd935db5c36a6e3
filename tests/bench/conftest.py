"""The bench's tests run the real app in-process over the loopback departments (the schema fixtures)."""

from __future__ import annotations

from tests.schema.conftest import demo_credentials, make_hub

__all__ = ["demo_credentials", "make_hub"]
