"""Safe XML parsing and typed element getters for the XML connectors.

``parse_xml`` uses a hardened lxml parser: no entity resolution, no DTD loading,
no network, no huge trees, and any DOCTYPE refused (``UnsafeXml``), so entity
expansion and external entities never run. A ``Reader`` reads the children of
one namespace; its getters raise ``KeyError``/``ValueError`` on a wrong shape,
which ``connectors.failures.parsed`` turns into ``DepartmentMalformed``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from lxml import etree

__all__ = ["Reader", "UnsafeXml", "parse_xml", "text_of", "xml_safe"]


class UnsafeXml(ValueError):
    """The answer carried a DOCTYPE (entity declarations, external subsets): refused."""


@functools.cache
def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(content: bytes) -> etree._Element:
    """Parse an answer safely; ValueError (``XMLSyntaxError`` or ``UnsafeXml``) if we will not."""
    root = etree.fromstring(content, _parser())
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXml("DOCTYPE refused")
    return root


def xml_safe(value: str) -> bool:
    """Can ``value`` travel as element text (no control characters)? Empty is not."""
    try:
        etree.Element("x").text = value
    except ValueError:
        return False
    return bool(value)


def text_of(el: etree._Element) -> str:
    """An element's stripped text, which must not be empty."""
    text = (el.text or "").strip()
    if not text:
        raise ValueError("empty element")
    return text


class Reader:
    """Typed getters for the children of an element, in namespace ``uri``."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def tag(self, name: str) -> str:
        return f"{{{self.uri}}}{name}"

    def child(self, parent: etree._Element, name: str) -> etree._Element:
        found = parent.find(self.tag(name))
        if found is None:
            raise KeyError(name)
        return found

    def children(self, parent: etree._Element, name: str) -> Iterator[etree._Element]:
        yield from parent.iterfind(self.tag(name))

    def opt_text(self, parent: etree._Element, name: str) -> str | None:
        found = parent.find(self.tag(name))
        return None if found is None else text_of(found)

    def text(self, parent: etree._Element, name: str) -> str:
        value = self.opt_text(parent, name)
        if value is None:
            raise KeyError(name)
        return value

    def opt_int(self, parent: etree._Element, name: str) -> int | None:
        value = self.opt_text(parent, name)
        return None if value is None else int(value)

    def opt_float(self, parent: etree._Element, name: str) -> float | None:
        value = self.opt_text(parent, name)
        return None if value is None else float(value)

    def boolean(self, parent: etree._Element, name: str) -> bool:
        """An ``xs:boolean``: true/false or 1/0."""
        value = self.text(parent, name)
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        raise ValueError(f"{name} is not an xs:boolean")
