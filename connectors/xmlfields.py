"""Safe XML parsing, SOAP 1.1 envelopes and typed element getters for the XML connectors.

``parse_xml`` uses a hardened lxml parser: no entity resolution, no DTD loading,
no network, no huge trees, and any DOCTYPE refused (``UnsafeXml``), so entity
expansion and external entities never run. Envelopes are built with
``lxml.etree``, never from strings. A ``Reader`` reads the children of one
namespace; its getters raise ``KeyError``/``ValueError`` on a wrong shape,
which ``connectors.failures.parsed`` turns into ``DepartmentMalformed``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator

from lxml import etree

__all__ = [
    "SOAP_ENV",
    "Reader",
    "UnsafeXml",
    "parse_xml",
    "soap_body",
    "soap_fault",
    "soap_request",
    "text_of",
    "xml_safe",
]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


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


def soap_request(uri: str, operation: str, children: Iterable[tuple[str, str]]) -> bytes:
    """A SOAP 1.1 request: ``operation`` in namespace ``uri`` with one child per (name, text)."""
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "ns": uri})
    request = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{uri}}}{operation}")
    for name, text in children:
        etree.SubElement(request, f"{{{uri}}}{name}").text = text
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def soap_body(root: etree._Element) -> etree._Element:
    """The Body of a SOAP 1.1 envelope (ValueError if ``root`` is not one)."""
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise ValueError("not a SOAP 1.1 envelope")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None:
        raise ValueError("no SOAP Body")
    return body


def soap_fault(content: bytes) -> tuple[str, etree._Element] | None:
    """(faultcode's local name, the Fault) of a SOAP fault answer; None if it is not one.

    ``soap:Client`` gives ``Client``: the prefix is the sender's choice.
    """
    try:
        fault = soap_body(parse_xml(content)).find(f"{{{SOAP_ENV}}}Fault")
    except (ValueError, etree.XMLSyntaxError):
        return None
    if fault is None:
        return None
    return (fault.findtext("faultcode") or "").strip().rpartition(":")[2], fault


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
