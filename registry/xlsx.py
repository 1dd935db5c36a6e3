"""A fast, read-only xlsx row reader: the first worksheet's cell values, row by row.

openpyxl's read-only mode builds an object per cell and reads about 20,000 cells a
second here; a 100,000-row list has 800,000 cells. This reads the sheet XML with
lxml's ``iterparse`` (entities and network access off) and yields plain tuples:
strings, numbers, booleans, and None for empty cells. Dates stay Excel serial
numbers; ``excel_date`` converts them.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

from lxml import etree

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
OFFICE_RELS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_COLUMN = re.compile(r"([A-Z]+)")
_DIGITS = "0123456789"
_EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 is 1900-01-01 (with Excel's 1900 leap-year bug)


class NotAWorkbook(ValueError):
    """The file is not an xlsx workbook we can read."""


def excel_date(serial: float) -> date:
    return _EXCEL_EPOCH + timedelta(days=int(serial))


def _column_index(reference: str) -> int:
    match = _COLUMN.match(reference)
    if not match:
        raise NotAWorkbook(f"bad cell reference {reference!r}")
    index = 0
    for letter in match.group(1):
        index = index * 26 + ord(letter) - 64
    return index - 1


def _parse(stream: IO[bytes], tag: str) -> Iterator[Any]:
    for _, element in etree.iterparse(
        stream, events=("end",), tag=tag, resolve_entities=False, no_network=True, huge_tree=False
    ):
        yield element


def _text(element: Any) -> str:
    # A shared or inline string: plain <t>, or rich-text runs <r><t>; phonetic hints <rPh> skipped.
    return "".join(t.text or "" for t in element.iter(f"{MAIN}t") if t.getparent().tag != f"{MAIN}rPh")


def _first_sheet(archive: zipfile.ZipFile) -> str:
    with archive.open("xl/workbook.xml") as stream:
        sheet = next(_parse(stream, f"{MAIN}sheet"), None)
        if sheet is None:
            raise NotAWorkbook("the workbook has no worksheet")
        relation = sheet.get(f"{OFFICE_RELS}id")
    with archive.open("xl/_rels/workbook.xml.rels") as stream:
        for rel in _parse(stream, f"{RELS}Relationship"):
            if rel.get("Id") == relation:
                target = rel.get("Target", "")
                return target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
    raise NotAWorkbook("the first worksheet is missing")


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    try:
        stream = archive.open("xl/sharedStrings.xml")
    except KeyError:
        return []
    strings = []
    with stream:
        for item in _parse(stream, f"{MAIN}si"):
            strings.append(_text(item))
            item.clear()
    return strings


def _value(cell: Any, kind: str | None, shared: list[str]) -> Any:
    # One C-level text walk per cell; only formula cells (<f> beside <v>) need a lookup.
    text = "".join(cell.itertext()) if len(cell) < 2 else cell.findtext(f"{MAIN}v")
    if kind is None or kind == "n":
        if not text:
            return None
        number = float(text)
        return int(number) if number.is_integer() else number
    if kind == "s":
        return shared[int(text)] if text else None
    if kind == "b":
        return text == "1"
    return text  # inlineStr, str (a formula's string result), e (an error such as #N/A)


def read_rows(path: str | Path) -> Iterator[tuple[Any, ...]]:
    """The first worksheet's rows as tuples (blank rows in between included, as empty tuples)."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise NotAWorkbook("not an xlsx workbook") from exc
    with archive:
        try:
            sheet = _first_sheet(archive)
            shared = _shared_strings(archive)
            stream = archive.open(sheet)
        except (KeyError, etree.XMLSyntaxError) as exc:
            raise NotAWorkbook("not an xlsx workbook") from exc
        with stream:
            expected = 1
            columns: dict[str, int] = {}
            try:
                for row in _parse(stream, f"{MAIN}row"):
                    number = int(row.get("r", expected))
                    while expected < number:  # rows Excel left out because they are empty
                        yield ()
                        expected += 1
                    values: list[Any] = []
                    for cell in row:
                        reference = cell.get("r")
                        if reference is not None:
                            letters = reference.rstrip(_DIGITS)
                            index = columns.get(letters)
                            if index is None:
                                index = columns[letters] = _column_index(reference)
                            if index > len(values):  # cells Excel left out because they are empty
                                values.extend([None] * (index - len(values)))
                        values.append(_value(cell, cell.get("t"), shared))
                    yield tuple(values)
                    expected = number + 1
                    row.clear()
                    while row.getprevious() is not None:  # keep memory flat on long sheets
                        del row.getparent()[0]
            except etree.XMLSyntaxError as exc:
                raise NotAWorkbook("the worksheet is not well-formed") from exc
