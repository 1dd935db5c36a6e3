"""The mapping format: a REST/JSON department described in TOML, validated with precise errors.

A mapping says how to reach a department system and how its answers become the
hub's records; ``connectors.mapped.MappedConnector`` runs it through the one
call pipeline. Every mistake is reported as ``FILE:LINE: KEY: problem``
(``MappingError``, a ``ConfigError``), never as a traceback. The format is
documented, with an example per paging and auth style, in
docs/adding-a-connector.md.

Extraction paths are JMESPath expressions (https://jmespath.org), compiled when
the mapping is loaded, so a bad expression is a mapping mistake, not a failed
call.
"""

from __future__ import annotations

import dataclasses
import re
import string
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import jmespath
import jmespath.exceptions
from jmespath.parser import ParsedResult
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from domain import records
from domain.errors import ConfigError
from domain.records import EventKind, ItemEvent, Lifecycle

__all__ = ["FieldSpec", "MappingError", "Mapping_", "load_mapping", "parse_mapping"]

# The records a mapping may fill, by the department view's slot that holds them.
SLOTS: dict[str, type] = {
    "items": records.ApprovalItem,
    "fire_path": records.FirePath,
    "utilities": records.UtilityTicket,
    "registrations": records.Registration,
    "civil_air_defence": records.CivilAirDefenceDecision,
}
MANY_SLOTS = {"items", "utilities", "registrations"}  # tuples of records; the others hold one or none
# Filled by the connector itself, not by a field spec.
IMPLIED_FIELDS = {"department", "raw_status", "raw_type"}
PLACEHOLDERS = {"project_code", "project_codes", "count"}


class MappingError(ConfigError):
    """A mapping file is not valid; the message names the file, the line and the key."""

    def __init__(self, message: str, *, file: str, line: int | None, key: str) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        self.file = file
        self.line = line
        self.key = key


def _compiled(expression: str) -> ParsedResult:
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(f"not a JMESPath expression ({type(exc).__name__})") from exc


def _expression(value: str) -> str:
    _compiled(value)
    return value


# A JMESPath expression, compiled when the mapping is loaded.
Expr = Annotated[str, AfterValidator(_expression)]


def _date_format(value: str) -> str:
    if not {"%Y", "%m", "%d"} <= set(re.findall(r"%[a-zA-Z]", value)):
        raise ValueError("a date format needs %Y, %m and %d")
    return value


# A strptime format for a whole date.
DateFormat = Annotated[str, AfterValidator(_date_format)]


def _spec(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class FieldSpec(_Strict):
    """Where one field of a record comes from, and how its raw value is written.

    ``"path"`` alone is shorthand for ``{path = "path"}``. ``type`` says how the
    department encodes the value: ``string``, ``integer``, ``number``, ``boolean``,
    ``flag`` (0/1), ``date`` (with ``format``, ``""`` or null for none), ``timestamp``
    (ISO 8601 with an offset, taken as a date in ``[dates].timezone``), ``strings``
    (a list of strings), ``periods`` (a list of objects with ``from``/``until`` dates),
    ``events`` (a processing history: a list of objects with the step's date under
    ``at``, its kind under ``step``, mapped by ``map`` onto ``EventKind``, and
    optionally the ticket it is about under ``about``).
    ``map`` translates raw values (compared as text) into the record's vocabulary;
    ``value`` is a constant instead of a path.
    """

    path: Expr | None = None
    value: str | int | float | bool | None = None
    type: Literal[
        "string", "integer", "number", "boolean", "flag", "date", "timestamp", "strings", "periods", "events"
    ] = "string"
    optional: bool = False
    map: dict[str, str] | None = None
    format: DateFormat | None = None
    begin: str = Field("from", description="periods: the key of a period's start")
    end: str = Field("until", description="periods: the key of a period's end")
    each: Literal["date", "timestamp"] = Field(
        "date", description="periods and events: how each date is written"
    )
    at: str = Field("on", description="events: the key of a step's date")
    step: str = Field("kind", description="events: the key of a step's kind (mapped by map)")
    about: str | None = Field(None, description="events: the key of the ticket a step is about")

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if (self.path is None) == (self.value is None):
            raise ValueError("give exactly one of path or value")
        return self


Spec = Annotated[FieldSpec, BeforeValidator(_spec)]


class Department(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", description="config and GraphQL key")
    title: str = Field(min_length=1)


class Auth(_Strict):
    """How the system wants callers to prove who they are. Secrets are credential names."""

    style: Literal["none", "api_key", "basic", "oauth2"] = "none"
    header: str | None = Field(None, description="api_key: the header carrying the key")
    credential: str = Field("api_key", description="api_key: the credential holding the key")
    username: str = Field("username", description="basic: the credential holding the user name")
    password: str = Field("password", description="basic: the credential holding the password")
    token_path: str = Field(
        "/oauth/token",
        pattern=r"^/",
        description="oauth2: the token endpoint (credentials client_id, client_secret)",
    )

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.style == "api_key" and not self.header:
            raise ValueError('api_key auth needs header, e.g. header = "X-Api-Key"')
        return self


class Response(_Strict):
    """How the system wraps its answers and says no."""

    ok: Expr | None = Field(None, description="a body for which this is false is a refusal")
    data: Expr = Field("@", description="where the payload is in the body")
    error: Expr | None = Field(None, description="the business code, named in a refusal's message")
    not_found: list[int] = Field(default_factory=lambda: [404], description="single lookup: not known")
    busy: list[int] = Field(default_factory=list, description="more statuses meaning try again")


class Paging(_Strict):
    """How a batch answer is paged: by page and size, by offset and limit, or by cursor."""

    style: Literal["page", "offset", "cursor"]
    page: str = "page"  # page: the page-number parameter (pages count from ``first``)
    size: str = "size"  # page: the page-size parameter
    first: int = 1
    offset: str = "offset"  # offset: the parameters
    limit: str = "limit"
    per_page: int = Field(100, ge=1, le=1000)
    cursor: str = "cursor"  # cursor: the parameter carrying the cursor
    next: Expr | None = Field(None, description="cursor: where the next cursor is in the payload")
    total: Expr | None = Field(None, description="page/offset: the total count, if the system gives it")

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.style == "cursor" and not self.next:
            raise ValueError("cursor paging needs next, the JMESPath of the next cursor")
        return self


class Request(_Strict):
    method: Literal["GET", "POST"] = "GET"
    path: str = Field(pattern=r"^/")
    query: dict[str, str] = Field(default_factory=dict)
    json_body: dict[str, Any] | None = Field(None, alias="json")
    form: dict[str, str] | None = None

    @field_validator("path", "query", "json_body", "form")
    @classmethod
    def _placeholders_are_known(cls, value: Any) -> Any:
        for text in _strings(value):
            for _, name, _, _ in string.Formatter().parse(text):
                if name is not None and name not in PLACEHOLDERS:
                    raise ValueError(
                        f"unknown placeholder {{{name}}}; known: {', '.join(sorted(PLACEHOLDERS))}"
                    )
        return value


class Lookup(Request):
    record: Expr = Field("@", description="the project's record in the payload")


class Batch(Request):
    records: Expr = Field(description="the list of project records in the payload")
    max_size: int = Field(50, ge=1, le=1000, description="codes per call")
    separator: str = Field(",", min_length=1, description="joins codes in a text placeholder")
    paging: Paging | None = None


class Project(_Strict):
    code: Expr = Field(description="the project code in a project record")


class RecordMap(_Strict):
    """One slot of the department's view: where its records are, and each field's spec."""

    source: Expr = Field(description="the records (or the one record) within a project record")
    when: Expr | None = Field(None, description="one-record slots: present only where this is not null")
    fields: dict[str, Spec]


class Dates(_Strict):
    format: DateFormat = "%Y-%m-%d"
    empty: str = Field("", description="the text meaning no date")
    timezone: str = Field("+08:00", pattern=r"^[+-]\d{2}:\d{2}$", description="timestamps: local offset")


class Health(_Strict):
    path: str = Field("/health", pattern=r"^/")


class Mapping_(_Strict):
    """A whole mapping file."""

    format: Literal[1] = 1
    department: Department
    auth: Auth = Auth()
    response: Response = Response()
    lookup: Lookup
    batch: Batch | None = None
    project: Project
    statuses: dict[str, Lifecycle] = Field(description="raw status (as text) to the hub's lifecycle")
    dates: Dates = Dates()
    records: dict[str, RecordMap]
    health: Health = Health()
    part: Literal["items"] | None = Field(
        None, description="a department without a built-in part shows its items in Matter"
    )

    def compiled(self, expression: str) -> ParsedResult:
        return _compiled(expression)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, Sequence):
        return [s for v in value for s in _strings(v)]
    return []


# -- loading -----------------------------------------------------------------------------


def load_mapping(path: str | Path) -> Mapping_:
    """Read and validate a mapping file; any mistake is a ``MappingError`` naming file, line and key."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = type(exc).__name__
        raise MappingError(f"cannot read the mapping ({reason})", file=file, line=None, key="") from None
    return parse_mapping(text, file=file)


def parse_mapping(text: str, *, file: str = "<mapping>") -> Mapping_:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_of_toml_error(str(exc))
        reason = str(exc).split(" (at ")[0]
        raise MappingError(f"not valid TOML: {reason}", file=file, line=line, key="") from None
    try:
        mapping = Mapping_.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(str(p) for p in first["loc"] if not str(p).startswith("function-"))
        loc = tuple(p for p in loc if p not in {"FieldSpec", "str", "json-or-python[json=function-after"})
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        elif first["type"] == "missing":
            message = "missing"
        raise MappingError(message, file=file, line=locate(text, loc), key=".".join(loc)) from None
    _check_records(mapping, text, file)
    return mapping


def _line_of_toml_error(message: str) -> int | None:
    found = re.search(r"line (\d+)", message)
    return int(found.group(1)) if found else None


def _check_records(mapping: Mapping_, text: str, file: str) -> None:
    """Each slot's fields against the hub's record: known names, every required one, vocabularies."""

    def fail(message: str, *loc: str) -> typing.NoReturn:
        raise MappingError(message, file=file, line=locate(text, loc), key=".".join(loc))

    if "items" not in mapping.records:
        fail("missing: every department maps its approval items", "records", "items")
    for slot, record_map in mapping.records.items():
        record = SLOTS.get(slot)
        if record is None:
            fail(f"unknown slot; known: {', '.join(SLOTS)}", "records", slot)
        if slot not in MANY_SLOTS and record_map.when is None:
            fail("a one-record slot needs when, the path that says it is present", "records", slot)
        hints = typing.get_type_hints(record)
        fields = {f.name: f for f in dataclasses.fields(record)}
        for name, spec in record_map.fields.items():
            if name not in fields or name in IMPLIED_FIELDS:
                fail(f"{record.__name__} has no field {name!r} to map", "records", slot, "fields", name)
            problem = _spec_problem(hints[name], spec, mapping)
            if problem:
                fail(problem, "records", slot, "fields", name)
        for name, f in fields.items():
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and name not in IMPLIED_FIELDS and name not in record_map.fields:
                fail(f"{record.__name__}.{name} must be mapped", "records", slot, "fields")


def _spec_problem(hint: Any, spec: FieldSpec, mapping: Mapping_) -> str | None:
    """Why ``spec`` cannot fill a field of type ``hint``, or None."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    target = args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) else hint
    if typing.get_origin(hint) is tuple:
        if hint == tuple[str, ...]:
            return None if spec.type == "strings" else 'a list of strings needs type = "strings"'
        if hint == tuple[ItemEvent, ...]:
            if spec.type != "events":
                return 'a processing history needs type = "events"'
            known = {k.value for k in EventKind}
            bad = [v for v in (spec.map or {}).values() if v not in known]
            if spec.map is None or bad:
                return f"events need a map onto EventKind; known: {', '.join(sorted(known))}"
            return None
        return None if spec.type == "periods" else 'pause periods need type = "periods"'
    if target is date:
        return None if spec.type in ("date", "timestamp") else 'a date needs type = "date" or "timestamp"'
    if target is bool:
        return (
            None
            if spec.type in ("boolean", "flag") or spec.value is not None
            else "needs type boolean or flag"
        )
    if isinstance(target, type) and issubclass(target, Enum):
        allowed = {m.value for m in target}
        if target is Lifecycle and spec.map is None:
            return None  # the [statuses] table maps it
        values = (
            list(spec.map.values()) if spec.map else ([str(spec.value)] if spec.value is not None else [])
        )
        bad = [v for v in values if v not in allowed]
        if bad:
            return f"{bad[0]!r} is not a {target.__name__}; known: {', '.join(sorted(allowed))}"
    return None


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*((?:\"[^\"]*\"|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:\"[^\"]*\"|[A-Za-z0-9_-]+))*)\s*=")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip().strip('"') for p in re.findall(r'"[^"]*"|[^.]+', dotted))


def locate(text: str, loc: Sequence[str]) -> int | None:
    """The line where the key at ``loc`` (or its nearest written parent) is written."""
    best: tuple[int, int] | None = None  # (matched depth, line)
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _parts(header.group(1))
            path = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            path = table + _parts(key.group(1))
            # an inline table on this line: count the keys it names too
            inline = [k for k in re.findall(r"[{,]\s*([A-Za-z0-9_]+)\s*=", line)]
            for name in inline:
                if len(path) < len(loc) and loc[len(path)] == name:
                    path = (*path, name)
        depth = 0
        for a, b in zip(path, loc, strict=False):
            if a != b:
                break
            depth += 1
        if depth == len(path) and depth and (best is None or depth > best[0]):
            best = (depth, number)
    return best[1] if best else None


def parse_day(value: Any, *, spec: FieldSpec, dates: Dates) -> date | None:
    """A date field's raw value, strictly: the format given, the empty text or null for none."""
    if value is None or value == dates.empty:
        if spec.optional or value == dates.empty:
            return None
        raise ValueError("a required date is null")
    if not isinstance(value, str):
        raise TypeError("a date is not text")
    if spec.type == "timestamp":
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("a timestamp has no UTC offset")
        sign = 1 if dates.timezone[0] == "+" else -1
        hours, minutes = int(dates.timezone[1:3]), int(dates.timezone[4:6])
        return moment.astimezone(timezone(sign * timedelta(hours=hours, minutes=minutes))).date()
    return datetime.strptime(value, spec.format or dates.format).date()
