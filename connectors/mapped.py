"""One connector class for any mapping file: a REST/JSON department with no Python.

``mapped_connector(mapping)`` makes a connector class (its own factory, as the
entry points expect) whose calls go through the same ``CallPipeline`` as every
Python connector: deadline, breaker, retries, cache, coalescing, metrics. What
the mapping describes (connectors/mapping_format.py) is only how to ask and how
to read the answer; what a failure means is the pipeline's, so a mapped
department fails exactly as a Python one does.
"""

from __future__ import annotations

import asyncio
import functools
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from connectors.failures import parsed
from connectors.http import health_check
from connectors.jsonfields import segment
from connectors.mapping_format import (
    MANY_SLOTS,
    SLOTS,
    FieldSpec,
    Mapping_,
    Paging,
    Request,
    load_mapping,
    parse_day,
)
from connectors.oauth import ClientCredentials
from connectors.pipeline import (
    CallPipeline,
    Fetched,
    check_response,
    settled_sources,
    with_source,
    with_sources,
)
from domain.errors import ConnectorError, DepartmentRejected
from domain.records import DepartmentView, EventKind, HealthReport, ItemEvent, Lifecycle

if TYPE_CHECKING:
    from pathlib import Path

    from aiocache.base import BaseCache

    from connectors.settings import ConnectorSettings

__all__ = ["MappedConnector", "mapped_connector"]

BUILT_IN_PARTS = {
    "planning": "schema.departments:PLANNING",
    "civil_air_defence": "schema.departments:CIVIL_AIR_DEFENCE",
    "fire": "schema.departments:FIRE",
    "utilities": "schema.departments:UTILITIES",
    "real_estate": "schema.departments:REAL_ESTATE",
}
ITEMS_PART = "schema.departments:items_part"
TOKEN_MARGIN_S = 30.0  # oauth2: renew a token this long before it expires
MAX_PAGES = 1_000  # a paged batch answer longer than this is the department's bug, not a loop


def mapped_connector(mapping: Mapping_ | str | Path) -> type[MappedConnector]:
    """The connector class for ``mapping`` (a loaded mapping or a mapping file's path)."""
    loaded = mapping if isinstance(mapping, Mapping_) else load_mapping(mapping)
    name = loaded.department.name
    class_name = "".join(part.title() for part in name.split("_")) + "MappedConnector"
    # Its part of a matter (named by path: connectors know no GraphQL): a built-in
    # department's own, or its items under its name when the mapping says part = "items".
    part = BUILT_IN_PARTS.get(name) or (ITEMS_PART if loaded.part == "items" else None)
    return type(
        class_name,
        (MappedConnector,),
        {"name": name, "title": loaded.department.title, "mapping": loaded, "part": part},
    )


class MappedConnector:
    """Runs one mapping; use ``mapped_connector`` to get a class for a mapping."""

    name = ""  # set by mapped_connector, from the mapping
    title = ""
    mapping: ClassVar[Mapping_]

    def __init__(self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: BaseCache) -> None:
        self.settings = settings
        self.client = client
        self.pipeline = CallPipeline(self.name, settings, cache)
        auth = self.mapping.auth
        self._headers: dict[str, str] = {}
        self._auth: httpx.Auth | None = None
        if auth.style == "api_key" and auth.header:
            key = settings.secret(auth.credential, default_env=_env(self.name, auth.credential))
            self._headers = {auth.header: key} if key else {}
        elif auth.style == "basic":
            user = settings.secret(auth.username, default_env=_env(self.name, auth.username))
            password = settings.secret(auth.password, default_env=_env(self.name, auth.password))
            if user is not None and password is not None:
                self._auth = httpx.BasicAuth(user, password)
        self._tokens: ClientCredentials | None = None
        if auth.style == "oauth2":
            self._tokens = ClientCredentials(
                client=client,
                settings=settings,
                department=self.name,
                token_path=auth.token_path,
                margin_s=TOKEN_MARGIN_S,
                clock=lambda: self.pipeline.clock(),
                env_prefix=f"ONEMATTER_{self.name.upper()}",
            )

    def __repr__(self) -> str:  # never show a credential
        return f"<{type(self).__name__} auth={self.mapping.auth.style}>"

    @classmethod
    def normalise_status(cls, raw: str) -> Lifecycle:
        """A raw status, as text, to the lifecycle (the mapping's ``[statuses]``)."""
        status = cls.mapping.statuses.get(raw)
        if status is None:
            raise ValueError(f"not a {cls.name} status: {raw!r}")
        return status

    async def fetch_project(self, project_code: str) -> DepartmentView | None:
        """What the department knows of one project; None if it does not know it."""
        fetched = await self.pipeline.call("project", project_code, lambda: self._get_project(project_code))
        return with_source(fetched)

    async def fetch_projects(self, project_codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        """Batch lookup as the mapping's ``[batch]`` says; one lookup per code without one."""
        batch = self.mapping.batch
        codes = self._batchable(project_codes)
        if not codes:
            return {}
        if batch is None:
            views = await asyncio.gather(*(self.fetch_project(code) for code in codes))
            return {view.project_code: view for view in views if view is not None}
        found = await self.pipeline.call_batch("project", codes, self._query_projects)
        return with_sources(found)

    async def fetch_answers(
        self, project_codes: Sequence[str]
    ) -> Mapping[str, Fetched[DepartmentView | None] | ConnectorError]:
        """``fetch_projects``, each project settled alone (``connectors.base.AnswersEachProject``)."""
        batch = self.mapping.batch
        codes = self._batchable(project_codes)
        if not codes:
            return {}
        if batch is None:
            return dict(
                zip(codes, await asyncio.gather(*(self._answer(code) for code in codes)), strict=True)
            )
        return settled_sources(await self.pipeline.call_batch_settled("project", codes, self._query_projects))

    def _batchable(self, project_codes: Sequence[str]) -> list[str]:
        """The distinct codes; a code holding the batch separator cannot be asked for in a batch."""
        batch = self.mapping.batch
        return [c for c in dict.fromkeys(project_codes) if c and (batch is None or batch.separator not in c)]

    async def _answer(self, project_code: str) -> Fetched[DepartmentView | None] | ConnectorError:
        try:
            fetched = await self.pipeline.call(
                "project", project_code, lambda: self._get_project(project_code)
            )
        except ConnectorError as exc:
            return exc
        return Fetched(with_source(fetched), fetched.meta)

    async def health(self) -> HealthReport:
        return await health_check(
            self.client, self.name, self.settings.deadline_s, path=self.mapping.health.path
        )

    async def aclose(self) -> None:
        """Nothing to release: the hub owns the client and the cache."""

    # -- upstream calls (inside the pipeline) -----------------------------------------

    async def _get_project(self, project_code: str) -> DepartmentView | None:
        lookup = self.mapping.lookup
        response = await self._send(lookup, {"project_code": project_code}, [project_code])
        if response.status_code in self.mapping.response.not_found:
            return None
        payload = self._payload(response)
        return parsed(self.name, lambda: self._view(self.mapping.compiled(lookup.record).search(payload)))

    async def _query_projects(self, project_codes: list[str]) -> dict[str, DepartmentView]:
        batch = self.mapping.batch
        assert batch is not None
        size = batch.max_size
        chunks = [project_codes[i : i + size] for i in range(0, len(project_codes), size)]
        answers = await asyncio.gather(*(self._query_chunk(chunk) for chunk in chunks))
        return {view.project_code: view for views in answers for view in views}

    async def _query_chunk(self, codes: list[str]) -> list[DepartmentView]:
        batch = self.mapping.batch
        assert batch is not None
        values = {"project_codes": batch.separator.join(codes), "count": str(len(codes))}
        records: list[Any] = []
        paging = batch.paging
        extra: dict[str, str] = {}
        if paging is not None:
            extra = _first_page(paging)
        for _ in range(MAX_PAGES):
            response = await self._send(batch, values, codes, extra=extra)
            payload = self._payload(response)
            page = parsed(self.name, functools.partial(self._search_list, batch.records, payload))
            records.extend(page)
            if paging is None:
                break
            extra = _next_page(paging, extra, payload, len(page), len(records), self.mapping)
            if not extra:
                break
        return parsed(self.name, lambda: [self._view(raw) for raw in records])

    async def _send(
        self, request: Request, values: Mapping[str, str], codes: list[str], *, extra: Mapping[str, str] = {}
    ) -> httpx.Response:
        path = request.path.format_map({k: segment(v) for k, v in values.items()})
        params = {**{k: v.format_map(values) for k, v in request.query.items()}, **extra}
        options: dict[str, Any] = {"params": params or None}
        if self._headers:
            options["headers"] = self._headers
        if request.json_body is not None:
            options["json"] = _fill(request.json_body, values, codes)
        elif request.form is not None:
            options["data"] = {k: v.format_map(values) for k, v in request.form.items()}
        if self._auth is not None:
            options["auth"] = self._auth
        send = self._tokens.request if self._tokens is not None else self.client.request
        response = await send(request.method, path, **options)
        if response.status_code in self.mapping.response.busy:
            response.status_code = 503  # the department's own word for "try again"
        if response.status_code not in self.mapping.response.not_found or request is not self.mapping.lookup:
            check_response(response, department=self.name)
        return response

    def _payload(self, response: httpx.Response) -> Any:
        """The payload of the department's envelope; a body the ``ok`` test refuses is a refusal."""
        body = parsed(self.name, response.json)
        shape = self.mapping.response
        ok = shape.ok
        if ok is not None and not parsed(self.name, lambda: self.mapping.compiled(ok).search(body)):
            code = self.mapping.compiled(shape.error).search(body) if shape.error else None
            said = f" (business code {code})" if isinstance(code, int | str) and len(str(code)) < 32 else ""
            raise DepartmentRejected(
                f"{self.name} refused the request{said}",
                department=self.name,
                status_code=response.status_code,
            )
        return parsed(self.name, lambda: self.mapping.compiled(shape.data).search(body))

    # -- reading records -------------------------------------------------------------

    def _search_list(self, expression: str, payload: Any) -> list[Any]:
        return _list(self.mapping.compiled(expression).search(payload))

    def _view(self, raw: Any) -> DepartmentView:
        if not isinstance(raw, dict):
            raise TypeError("a project record is not an object")
        code = self.mapping.compiled(self.mapping.project.code).search(raw)
        if not isinstance(code, str):
            raise TypeError("the project code is not text")
        slots: dict[str, Any] = {}
        for slot, record_map in self.mapping.records.items():
            source = self.mapping.compiled(record_map.source).search(raw)
            record = SLOTS[slot]
            if slot in MANY_SLOTS:
                slots[slot] = tuple(self._record(record, record_map.fields, r) for r in _list(source))
            elif self.mapping.compiled(record_map.when or "@").search(raw) is not None:
                slots[slot] = self._record(record, record_map.fields, source)
        return DepartmentView(department=self.name, project_code=code, **slots)

    def _record(self, record: type, fields: Mapping[str, FieldSpec], raw: Any) -> Any:
        if not isinstance(raw, dict):
            raise TypeError(f"a {record.__name__} record is not an object")
        values: dict[str, Any] = {}
        for name, spec in fields.items():
            value = spec.value if spec.path is None else self.mapping.compiled(spec.path).search(raw)
            values[name] = self._value(name, spec, value, record)
        if "status" in fields and "raw_status" in record.__dataclass_fields__:  # type: ignore[attr-defined]
            values["raw_status"] = _text(self.mapping.compiled(fields["status"].path or "@").search(raw))
        if "type" in fields and "raw_type" in record.__dataclass_fields__:  # type: ignore[attr-defined]
            values["raw_type"] = _text(self.mapping.compiled(fields["type"].path or "@").search(raw))
        if "department" in record.__dataclass_fields__:  # type: ignore[attr-defined]
            values["department"] = self.name
        return record(**values)

    def _value(self, name: str, spec: FieldSpec, value: Any, record: type) -> Any:
        if spec.type in ("date", "timestamp"):
            return parse_day(value, spec=spec, dates=self.mapping.dates)
        if value is None:
            if spec.optional:
                return None
            raise ValueError(f"{name} is null")
        if spec.type == "strings":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"{name} is not a list of strings")
            return tuple(value)
        if spec.type == "periods":
            return tuple(self._period(spec, p) for p in _list(value))
        if spec.type == "events":
            return tuple(self._event(spec, e) for e in _list(value))
        if spec.type == "flag":
            if value not in (0, 1) or isinstance(value, bool):
                raise ValueError(f"{name} is not 0 or 1")
            return value == 1
        if spec.type == "boolean":
            if not isinstance(value, bool):
                raise TypeError(f"{name} is not a boolean")
            return value
        if spec.type == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{name} is not an integer")
        if spec.type == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise TypeError(f"{name} is not a number")
        if spec.type == "string" and not isinstance(value, str):
            raise TypeError(f"{name} is not text")
        if spec.map is not None:
            mapped = spec.map.get(_text(value))
            if mapped is None:
                raise ValueError(f"{name}: a value the mapping does not know")
            value = mapped
        if _hints(record)[name] is Lifecycle and spec.map is None:
            return self.normalise_status(_text(value))
        if spec.type == "number":
            return float(value)
        return _enum_of(record, name, value)

    def _period(self, spec: FieldSpec, raw: Any) -> tuple[Any, Any]:
        if not isinstance(raw, dict):
            raise TypeError("a period is not an object")
        day = FieldSpec(path="@", type=spec.each, optional=True, format=spec.format)
        begin = parse_day(raw[spec.begin], spec=day, dates=self.mapping.dates)
        if begin is None:
            raise ValueError("a period without a start")
        return begin, parse_day(raw[spec.end], spec=day, dates=self.mapping.dates)

    def _event(self, spec: FieldSpec, raw: Any) -> ItemEvent:
        if not isinstance(raw, dict):
            raise TypeError("a processing step is not an object")
        day = FieldSpec(path="@", type=spec.each, optional=True, format=spec.format)
        on = parse_day(raw.get(spec.at), spec=day, dates=self.mapping.dates)
        kind = (spec.map or {}).get(_text(raw.get(spec.step)))
        if on is None or kind is None:
            raise ValueError("a processing step without a date or of a kind the mapping does not know")
        subject = raw.get(spec.about) if spec.about else None
        if subject is not None and not isinstance(subject, str):
            raise TypeError("a processing step's ticket is not text")
        return ItemEvent(on=on, kind=EventKind(kind), subject=subject)


def _env(department: str, credential: str) -> str:
    """The variable a credential is read from when the configuration names none."""
    return f"ONEMATTER_{department.upper()}_{credential.upper()}"


@functools.cache
def _hints(record: type) -> dict[str, Any]:
    return typing.get_type_hints(record)


def _enum_of(record: type, name: str, value: Any) -> Any:
    """The record field's enum member for ``value`` (by value), or the value itself."""
    hint = _hints(record)[name]
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return candidate(value)  # ValueError on a value the enum does not know
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError("a raw status is neither text nor an integer")
    return str(value)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return value


def _fill(template: Any, values: Mapping[str, str], codes: list[str]) -> Any:
    """A JSON body template: ``"{project_codes}"`` alone is the list of codes itself."""
    if template == "{project_codes}":
        return list(codes)
    if isinstance(template, str):
        return template.format_map(values)
    if isinstance(template, dict):
        return {k: _fill(v, values, codes) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values, codes) for v in template]
    return template


def _first_page(paging: Paging) -> dict[str, str]:
    if paging.style == "page":
        return {paging.page: str(paging.first), paging.size: str(paging.per_page)}
    if paging.style == "offset":
        return {paging.offset: "0", paging.limit: str(paging.per_page)}
    return {}


def _next_page(
    paging: Paging, current: Mapping[str, str], payload: Any, got: int, total_so_far: int, mapping: Mapping_
) -> dict[str, str]:
    """The parameters of the next page, or {} when the answer is complete."""
    if paging.style == "cursor" and paging.next:  # the format requires next for a cursor
        cursor = mapping.compiled(paging.next).search(payload)
        return {paging.cursor: str(cursor)} if cursor not in (None, "") else {}
    total = mapping.compiled(paging.total).search(payload) if paging.total else None
    if got < paging.per_page or (isinstance(total, int) and total_so_far >= total):
        return {}
    if paging.style == "page":
        return {paging.page: str(int(current[paging.page]) + 1), paging.size: str(paging.per_page)}
    return {paging.offset: str(int(current[paging.offset]) + got), paging.limit: str(paging.per_page)}
