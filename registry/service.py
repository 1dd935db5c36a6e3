"""Changing the ledger: lifecycle events, accounts, cancellations, new items.

Every mutation runs in one write transaction that also appends its history rows
and records its idempotency key; a retry with the same key and the same request
returns the first answer and changes nothing, the same key with a different
request is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import IllegalTransition, InvalidInput, NotFound
from registry.models import (
    LIFECYCLE,
    Account,
    Bureau,
    BusinessSystem,
    Category,
    DelegatedItem,
    Department,
    HistoryEntry,
    IdempotencyKey,
    Mode,
    Origin,
    Status,
    bounded_actor,
    table_of,
)
from registry.store import Registry

log = logging.getLogger("onematter.registry")

SYSTEM_ACTOR = "system"
_KEY_MAX = 128
_ACTOR_MAX = 128
_TEXT_MAX = 2000
_ACTOR_LIMIT = 8_192  # as long as a bearer token may be (the principal's sub is inside one)
_CODE_MAX = 64
# A date "today" in Hengyang may be tomorrow in UTC's terms; more than a day ahead is a typo.
_FUTURE_SLACK = timedelta(days=1)
_LOCK_CLASS = 7346  # PostgreSQL advisory locks (class, key) for idempotency keys
# Reaching these steps needs the department to hold an active account on the item's system.
_NEEDS_ACCOUNT = (Status.ACCOUNT_ISSUED, Status.GUIDED, Status.TAKEN_OVER)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NewItem:
    """A delegated item to add: from a published list, or delegated later (``Origin.ADDED``)."""

    code: str
    name: str
    category: Category
    mode: Mode
    source_bureau_code: str
    system_code: str
    department_code: str | None = None
    origin: Origin = Origin.ORIGINAL
    delegated_on: date | None = None


def transition_problem(item: DelegatedItem, target: Status) -> str | None:
    """Why ``item`` may not move to ``target`` now, or None when it may."""
    current = item.status
    if current is Status.CANCELLED:
        when = item.cancelled_on.isoformat() if item.cancelled_on else "earlier"
        return (
            f"the item was cancelled on {when} ({item.cancel_reason}); "
            "a cancelled item takes no further steps"
        )
    if target is Status.CANCELLED:
        return None
    if target is current:
        return f"the item is already {current}"
    if target is Status.DELEGATED:
        return "an item is DELEGATED only when it enters the ledger"
    here, there = LIFECYCLE.index(current), LIFECYCLE.index(target)
    if there < here:
        return "the lifecycle only moves forward"
    if there > here + 1:
        skipped = ", ".join(LIFECYCLE[here + 1 : there])
        return f"it skips {skipped}; record each step in order"
    return None


def _illegal(item: DelegatedItem, target: Status, reason: str) -> IllegalTransition:
    transition = f"{item.status} → {target}"
    return IllegalTransition(
        f"item {item.code}: {transition} refused: {reason}",
        subject=item.code,
        transition=transition,
        reason=reason,
    )


# Line breaks and tabs are allowed in free text (a reason, a note); no other control character.
_FREE_TEXT_CONTROLS = frozenset("\n\t")


def _text(
    value: str | None,
    argument: str,
    *,
    required: bool = True,
    limit: int = _TEXT_MAX,
    free_text: bool = False,
) -> str | None:
    """``value`` stripped, or the input error both backends would give the same way.

    Refused: blank (also when only zero-width or other invisible characters remain),
    longer than ``limit`` characters (the column's width: PostgreSQL would refuse it,
    SQLite would store it), control characters including NUL (PostgreSQL cannot store
    NUL in text), and in a name or code any invisible formatting character.
    """
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{argument} must be text", argument=argument)
    stripped = _strip(value or "")
    if not stripped:
        if required:
            raise InvalidInput(f"{argument} must not be empty", argument=argument)
        return None
    if len(stripped) > limit:
        raise InvalidInput(f"{argument} is longer than {limit} characters", argument=argument)
    for ch in stripped:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs") and not (free_text and ch in _FREE_TEXT_CONTROLS):
            raise InvalidInput(
                f"{argument} contains a control character (U+{ord(ch):04X})", argument=argument
            )
        if category == "Cf" and not free_text:
            raise InvalidInput(
                f"{argument} contains an invisible character (U+{ord(ch):04X})", argument=argument
            )
    if not any(_visible(ch) for ch in stripped):
        raise InvalidInput(f"{argument} holds only invisible characters", argument=argument)
    return stripped


def _strip(value: str) -> str:
    # str.strip() leaves zero-width spaces and BOMs: take them off the ends too.
    return value.strip().strip("\u200b\u200c\u200d\u2060\ufeff").strip()


def _visible(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LNPS"


def _reason(value: str | None, argument: str = "reason") -> str:
    """A reason someone can read: text as ``_text`` allows, with at least one letter or digit."""
    text = _text(value, argument, free_text=True)
    assert text is not None
    if not any(unicodedata.category(ch)[0] in "LN" for ch in text):
        raise InvalidInput(f"{argument} must say why, in words", argument=argument)
    return text


def _code(value: str, argument: str, *, limit: int = _CODE_MAX) -> str:
    """A code (item, department, system, bureau): printable, no spaces inside, at most ``limit``."""
    text = _text(value, argument, limit=limit)
    assert text is not None
    if any(ch.isspace() for ch in text):
        raise InvalidInput(f"{argument} must not contain spaces", argument=argument)
    return text


def checked_item(new: NewItem) -> NewItem:
    """``new`` with its text checked and trimmed, or the input error naming the field."""
    for value, argument in ((new.category, "category"), (new.mode, "mode"), (new.origin, "origin")):
        if not isinstance(value, Category | Mode | Origin):
            raise InvalidInput(f"{argument} is not one of the known values", argument=argument)
    name = _text(new.name, "name", limit=200)
    assert name is not None
    return replace(
        new,
        code=_code(new.code, "code"),
        name=name,
        source_bureau_code=_code(new.source_bureau_code, "sourceBureauCode", limit=16),
        system_code=_code(new.system_code, "systemCode", limit=16),
        department_code=None
        if new.department_code is None
        else _code(new.department_code, "departmentCode", limit=16),
    )


class _Writer:
    """Appends history rows for one mutation: same actor, time and idempotency key."""

    def __init__(self, session: AsyncSession, *, actor: str, at: datetime, key: str | None) -> None:
        self.session = session
        self.actor = actor
        self.at = at
        self.key = key

    async def flush(self) -> None:
        await self.session.flush()

    def record(
        self,
        entity: str,
        entity_key: str,
        field: str,
        old: object,
        new: object,
        reason: str | None = None,
    ) -> None:
        self.session.add(
            HistoryEntry(
                at=self.at,
                actor=self.actor,
                entity=entity,
                entity_key=entity_key,
                field=field,
                old_value=None if old is None else str(old),
                new_value=None if new is None else str(new),
                reason=reason,
                idempotency_key=self.key,
            )
        )


Apply = Callable[[_Writer], Awaitable[dict[str, Any]]]


class Ledger:
    """Mutations of the delegation ledger.

    Args:
        registry: the open registry database.
        clock: returns "now" (UTC, aware); tests and the seed pin it.
    """

    def __init__(self, registry: Registry, *, clock: Clock = _utcnow) -> None:
        self.registry = registry
        self.clock = clock

    # -- lifecycle ---------------------------------------------------------------------

    async def record_event(
        self,
        item_code: str,
        event: Status | str,
        *,
        idempotency_key: str,
        actor: str = SYSTEM_ACTOR,
        department_code: str | None = None,
        note: str | None = None,
    ) -> DelegatedItem:
        """Move an item one step along DELEGATED → … → TAKEN_OVER.

        ``department_code`` names the receiving department with ``ASSIGNED``.
        Cancelling needs a reason: use ``cancel_item``.
        """
        target = _status(event)
        if target is Status.CANCELLED:
            raise InvalidInput("a cancellation needs a reason: use cancelDelegatedItem", argument="event")
        note = _text(note, "note", required=False, free_text=True)
        item_code = _code(item_code, "itemCode")
        if department_code is not None:
            department_code = _code(department_code, "departmentCode")

        async def apply(w: _Writer) -> dict[str, Any]:
            item = await _item_for_update(w.session, item_code)
            problem = transition_problem(item, target)
            if problem:
                raise _illegal(item, target, problem)
            if target is Status.ASSIGNED:
                department = department_code or item.department_code
                if department is None:
                    raise InvalidInput(
                        "ASSIGNED needs the receiving departmentCode", argument="departmentCode"
                    )
                await _get(w.session, Department, department, "department")
                if department != item.department_code:
                    w.record("item", item.code, "department_code", item.department_code, department)
                    item.department_code = department
            elif department_code is not None and department_code != item.department_code:
                raise InvalidInput(
                    "departmentCode can only be given with ASSIGNED", argument="departmentCode"
                )
            if target in _NEEDS_ACCOUNT:
                await _require_account(w.session, item, target)
            w.record("item", item.code, "status", item.status, target, note)
            await w.flush()  # history first: the database records any status change it has not seen
            item.status = target
            item.updated_at = w.at
            return {"item": item.code}

        request = {"item": item_code, "event": target, "department": department_code, "note": note}
        result = await self._mutate("recordDelegationEvent", idempotency_key, actor, request, apply)
        return await self._item(result["item"])

    async def cancel_item(
        self,
        item_code: str,
        *,
        reason: str,
        idempotency_key: str,
        actor: str = SYSTEM_ACTOR,
        cancelled_on: date | None = None,
    ) -> DelegatedItem:
        """Cancel an item (剥离/取消) with the reason; any step may be cancelled, once."""
        reason_text = _reason(reason)
        item_code = _code(item_code, "itemCode")

        async def apply(w: _Writer) -> dict[str, Any]:
            item = await _item_for_update(w.session, item_code)
            problem = transition_problem(item, Status.CANCELLED)
            if problem:
                raise _illegal(item, Status.CANCELLED, problem)
            on = cancelled_on or w.at.date()
            if on < item.delegated_on:
                raise InvalidInput(
                    f"cancelledOn {on.isoformat()} is before the item was delegated "
                    f"({item.delegated_on.isoformat()})",
                    argument="cancelledOn",
                )
            if on > w.at.date() + _FUTURE_SLACK:
                raise InvalidInput("cancelledOn is in the future", argument="cancelledOn")
            w.record("item", item.code, "status", item.status, Status.CANCELLED, reason_text)
            w.record("item", item.code, "cancelled_on", None, on.isoformat(), reason_text)
            await w.flush()
            item.status = Status.CANCELLED
            item.cancelled_on = on
            item.cancel_reason = reason_text
            item.updated_at = w.at
            return {"item": item.code}

        request = {"item": item_code, "reason": reason_text, "on": cancelled_on}
        result = await self._mutate("cancelDelegatedItem", idempotency_key, actor, request, apply)
        return await self._item(result["item"])

    async def add_item(
        self, new: NewItem, *, idempotency_key: str, actor: str = SYSTEM_ACTOR
    ) -> DelegatedItem:
        """Enter one item in the ledger as DELEGATED (and ASSIGNED when a department is named)."""
        new = checked_item(new)

        async def apply(w: _Writer) -> dict[str, Any]:
            await check_references(w.session, [new])
            if new.delegated_on is not None and new.delegated_on > w.at.date() + _FUTURE_SLACK:
                raise InvalidInput("delegatedOn is in the future", argument="delegatedOn")
            if await w.session.scalar(select(DelegatedItem.id).where(DelegatedItem.code == new.code)):
                raise InvalidInput(f"item {new.code} is already in the ledger", argument="code")
            await add_items(w, [new])
            return {"item": new.code}

        request = {"new": asdict(new)}
        result = await self._mutate("addDelegatedItem", idempotency_key, actor, request, apply)
        return await self._item(result["item"])

    # -- accounts ----------------------------------------------------------------------

    async def assign_account(
        self,
        *,
        department_code: str,
        system_code: str,
        holder: str,
        role: str,
        idempotency_key: str,
        actor: str = SYSTEM_ACTOR,
        requested_on: date | None = None,
        issued_on: date | None = None,
    ) -> Account:
        """Record an account a department holds on a business system (issued today by default)."""
        holder_text = _text(holder, "holder", limit=64)
        role_text = _text(role, "role", limit=32)
        department_code = _code(department_code, "departmentCode")
        system_code = _code(system_code, "systemCode")

        async def apply(w: _Writer) -> dict[str, Any]:
            await _get(w.session, Department, department_code, "department")
            await _get(w.session, BusinessSystem, system_code, "business system")
            issued = issued_on or w.at.date()
            requested = requested_on or issued
            if requested > issued:
                raise InvalidInput("requestedOn is after issuedOn", argument="requestedOn")
            if issued > w.at.date() + _FUTURE_SLACK:
                raise InvalidInput("issuedOn is in the future", argument="issuedOn")
            duplicate = await w.session.scalar(
                select(Account.id).where(
                    Account.department_code == department_code,
                    Account.system_code == system_code,
                    Account.holder == holder_text,
                    Account.revoked_on.is_(None),
                )
            )
            if duplicate is not None:
                raise InvalidInput(
                    f"{holder_text} already holds account {duplicate} on {system_code} for {department_code}",
                    argument="holder",
                )
            account = Account(
                system_code=system_code,
                department_code=department_code,
                holder=holder_text,
                role=role_text,
                requested_on=requested,
                issued_on=issued,
            )
            w.session.add(account)
            await w.session.flush()
            key = str(account.id)
            w.record(
                "account",
                key,
                "account",
                None,
                f"{department_code} {system_code} {holder_text} ({role_text})",
            )
            w.record("account", key, "requested_on", None, requested.isoformat())
            w.record("account", key, "issued_on", None, issued.isoformat())
            return {"account": account.id}

        request = {
            "department": department_code,
            "system": system_code,
            "holder": holder_text,
            "role": role_text,
            "requested": requested_on,
            "issued": issued_on,
        }
        result = await self._mutate("assignAccount", idempotency_key, actor, request, apply)
        return await self._account(result["account"])

    async def revoke_account(
        self,
        account_id: int,
        *,
        reason: str,
        idempotency_key: str,
        actor: str = SYSTEM_ACTOR,
        revoked_on: date | None = None,
    ) -> Account:
        """Revoke an account, with the reason."""
        reason_text = _reason(reason)
        if isinstance(account_id, bool) or not isinstance(account_id, int) or not 0 < account_id < 2**63:
            raise InvalidInput("accountId must be a positive account number", argument="accountId")

        async def apply(w: _Writer) -> dict[str, Any]:
            account = await w.session.get(Account, account_id, with_for_update=True)
            if account is None:
                raise NotFound(f"no account {account_id}", entity="account", key=str(account_id))
            if account.revoked_on is not None:
                reason = f"it was already revoked on {account.revoked_on.isoformat()}"
                raise IllegalTransition(
                    f"account {account_id}: revoke refused: {reason}",
                    subject=str(account_id),
                    transition="REVOKED → REVOKED",
                    reason=reason,
                )
            on = revoked_on or w.at.date()
            if account.issued_on is not None and on < account.issued_on:
                raise InvalidInput("revokedOn is before the account was issued", argument="revokedOn")
            if on > w.at.date() + _FUTURE_SLACK:
                raise InvalidInput("revokedOn is in the future", argument="revokedOn")
            w.record("account", str(account.id), "revoked_on", None, on.isoformat(), reason_text)
            account.revoked_on = on
            account.revoke_reason = reason_text
            return {"account": account.id}

        request = {"account": account_id, "reason": reason_text, "on": revoked_on}
        result = await self._mutate("revokeAccount", idempotency_key, actor, request, apply)
        return await self._account(result["account"])

    # -- plumbing ----------------------------------------------------------------------

    async def _mutate(
        self, operation: str, key: str, actor: str, request: dict[str, Any], apply: Apply
    ) -> dict[str, Any]:
        key_text = _text(key, "idempotencyKey", limit=_KEY_MAX)
        actor_text = _text(actor, "actor", limit=_ACTOR_LIMIT, free_text=True)
        assert key_text is not None and actor_text is not None
        if len(actor_text) > _ACTOR_MAX:
            stored_actor = bounded_actor(actor_text)
            # The history keeps the bounded form; the log line keeps who it stands for.
            log.info(
                "%s by a long principal id stored as %s",
                operation,
                stored_actor,
                extra={"actor": actor_text, "stored_actor": stored_actor},
            )
            actor_text = stored_actor
        digest = _digest(operation, request)
        for attempt in range(2):
            try:
                async with self.registry.write() as session:
                    if (await session.connection()).dialect.name == "postgresql":
                        # Same-key retries queue here until the first commits, then replay it.
                        # (SQLite writers are already serialised by BEGIN IMMEDIATE.)
                        await session.execute(
                            select(func.pg_advisory_xact_lock(_LOCK_CLASS, func.hashtext(key_text)))
                        )
                    stored = await session.get(IdempotencyKey, key_text)
                    if stored is not None:
                        if stored.operation != operation or stored.request_hash != digest:
                            raise InvalidInput(
                                f"idempotency key {key_text!r} was already used for a different request",
                                argument="idempotencyKey",
                            )
                        result: dict[str, Any] = json.loads(stored.result)
                        return result
                    now = self.clock()
                    result = await apply(_Writer(session, actor=actor_text, at=now, key=key_text))
                    session.add(
                        IdempotencyKey(
                            key=key_text,
                            operation=operation,
                            request_hash=digest,
                            result=json.dumps(result),
                            created_at=now,
                        )
                    )
                return result
            except IntegrityError:
                # A concurrent request with the same key (or item code) committed first:
                # look again, and answer from its record or with the validation error.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _item(self, code: str) -> DelegatedItem:
        async with self.registry.sessionmaker() as session:
            return await _get_item(session, code)

    async def _account(self, account_id: int) -> Account:
        async with self.registry.sessionmaker() as session:
            account = await session.get(Account, account_id)
            assert account is not None
            return account


def opening_rows(
    new: NewItem, *, at: datetime, actor: str, key: str | None, source: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The item row and opening history rows for a new item (plain dicts, for bulk inserts).

    ``source`` (say, the spreadsheet and row it came from) becomes the opening row's reason.
    """
    department = new.department_code
    item = {
        "code": new.code,
        "name": new.name,
        "category": new.category,
        "mode": new.mode,
        "origin": new.origin,
        "status": Status.ASSIGNED if department else Status.DELEGATED,
        "source_bureau_code": new.source_bureau_code,
        "department_code": department,
        "system_code": new.system_code,
        "delegated_on": new.delegated_on or at.date(),
        "cancelled_on": None,
        "cancel_reason": None,
        "updated_at": at,
    }

    def row(field: str, old: str | None, value: str, reason: str | None = None) -> dict[str, Any]:
        return {
            "at": at,
            "actor": actor,
            "entity": "item",
            "entity_key": new.code,
            "field": field,
            "old_value": old,
            "new_value": value,
            "reason": reason,
            "idempotency_key": key,
        }

    opening = "新增赋权（动态调整）" if new.origin is Origin.ADDED else None
    if source:
        opening = f"{opening}；{source}" if opening else source
    history = [row("status", None, Status.DELEGATED.value, opening)]
    if department:
        history.append(row("department_code", None, department))
        history.append(row("status", Status.DELEGATED.value, Status.ASSIGNED.value))
    return item, history


async def add_items(w: _Writer, items: Iterable[NewItem]) -> int:
    """Insert new items and their opening history rows; returns the count.

    References and code uniqueness are the caller's to check (``check_references``).
    """
    item_rows: list[dict[str, Any]] = []
    history_rows: list[dict[str, Any]] = []
    for new in items:
        item, history = opening_rows(new, at=w.at, actor=w.actor, key=w.key)
        item_rows.append(item)
        history_rows.extend(history)
    if item_rows:  # history first, as the 0001 migration's trigger expects
        await w.session.execute(insert(table_of(HistoryEntry)), history_rows)
        await w.session.execute(insert(table_of(DelegatedItem)), item_rows)
    return len(item_rows)


async def check_references(session: AsyncSession, items: Iterable[NewItem]) -> None:
    """Raise NotFound for the first unknown bureau, business system or department."""
    items = list(items)
    for model, attribute, label in (
        (Bureau, "source_bureau_code", "source bureau"),
        (BusinessSystem, "system_code", "business system"),
        (Department, "department_code", "department"),
    ):
        wanted = {getattr(i, attribute) for i in items} - {None}
        if not wanted:
            continue
        known = set(await session.scalars(select(model.code).where(model.code.in_(wanted))))
        missing = sorted(wanted - known)
        if missing:
            raise NotFound(f"no {label} {missing[0]}", entity=label, key=missing[0])
    rows = await session.execute(
        select(BusinessSystem.code, BusinessSystem.bureau_code).where(
            BusinessSystem.code.in_({i.system_code for i in items})
        )
    )
    owners: dict[str, str] = {code: bureau for code, bureau in rows}
    for new in items:
        owner = owners.get(new.system_code)
        if owner is not None and owner != new.source_bureau_code:
            raise InvalidInput(
                f"business system {new.system_code} belongs to bureau {owner}, "
                f"not to {new.source_bureau_code}",
                argument="systemCode",
            )


async def _get(session: AsyncSession, model: type[Any], code: str, label: str) -> Any:
    row = await session.get(model, code)
    if row is None:
        raise NotFound(f"no {label} {code}", entity=label, key=code)
    return row


async def _get_item(session: AsyncSession, code: str, *, for_update: bool = False) -> DelegatedItem:
    query = select(DelegatedItem).where(DelegatedItem.code == code)
    if for_update:
        query = query.with_for_update()
    item = await session.scalar(query)
    if item is None:
        raise NotFound(f"no delegated item {code}", entity="delegated item", key=code)
    return item


async def _item_for_update(session: AsyncSession, code: str) -> DelegatedItem:
    return await _get_item(session, code, for_update=True)


async def _require_account(session: AsyncSession, item: DelegatedItem, target: Status) -> None:
    active = await session.scalar(
        select(Account.id).where(
            Account.department_code == item.department_code,
            Account.system_code == item.system_code,
            Account.issued_on.is_not(None),
            Account.revoked_on.is_(None),
        )
    )
    if active is None:
        raise _illegal(
            item,
            target,
            f"department {item.department_code} holds no active account on business system "
            f"{item.system_code}; assign one first",
        )


def _status(value: Status | str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise InvalidInput(f"unknown lifecycle event {value!r}", argument="event") from None


def _digest(operation: str, request: dict[str, Any]) -> str:
    body = json.dumps({"op": operation, **request}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()
