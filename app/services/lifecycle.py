"""One lifecycle for every state machine (wishes, problems, articles and each new domain).

A domain declares its transitions once, as data (`Lifecycle`, a tuple of
`Transition`: action, the states it may start from, the state it leads to); its
service checks who may act and then calls `move`, which in one go

- moves the record with a conditional UPDATE on the state it was read in
  (`WHERE id = :id AND status = :read`, plus the domain's own guards), so of two
  people acting at once exactly one wins and the other gets the domain's 409;
- writes the history row (`<name>_events`: action, from, to, who, note, when);
- runs the domain's follow-up (`on_move`, e.g. the wishes' yearly quota);
- writes the audit row (`<name>.<action>`), unless the transition says it is not audited;
- hands the notification to the outbox, if the call brings one.

The tests read the same declaration: the factories derive the history that leads to
each state from it, and tests/services/test_lifecycle.py walks every (state, action) pair.
How a new domain uses it: docs/DESIGN.md, "One lifecycle".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from app.core.db import table_of, updated_one, utcnow
from app.core.errors import Conflict
from app.core.scope import Caller
from app.services import audit

S = TypeVar("S", bound=StrEnum)
A = TypeVar("A", bound=StrEnum)
H = TypeVar("H", bound=SQLModel)


class Stateful(Protocol):
    """A record with a lifecycle: its table has `id`, `status` and `updated_at`."""

    @property
    def id(self) -> int | None: ...

    @property
    def status(self) -> Any: ...


@dataclass(frozen=True)
class Transition(Generic[S, A]):
    action: A
    sources: Collection[S]
    # None: the record stays in the state it is in (an edit), yet the step is recorded.
    to: S | None
    # What the 409 says cannot be done now: "……，不能{doing}".
    doing: str
    audited: bool = True
    # States from which the action is refused with a conflict of its own (code, text)
    # instead of the wrong-state one: a claim of a wish someone else holds.
    refusals: Mapping[S, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", frozenset(self.sources))

    def lands(self, state: S) -> S:
        return state if self.to is None else self.to


@dataclass(frozen=True)
class Lifecycle(Generic[S, A, H]):
    # The audit action's prefix and target type; the history table names the record
    # in its column `<name>_id`.
    name: str
    model: type[SQLModel]
    history: type[H]
    # The record's column the audit row is filed under (the org whose admins read it).
    org_key: str
    transitions: tuple[Transition[S, A], ...]
    # The 409: `code`, and "{called}当前状态为“{names[state]}”，不能{doing}".
    code: str
    called: str
    names: Mapping[S, str]
    # The history's column for the note that goes with a step.
    note_key: str = "note"
    # The 409 when the row is still in the state read but a guard of the caller's no
    # longer holds (the text or level changed meanwhile); None: the wrong-state one.
    stale: tuple[str, str] | None = None
    # Run after every move, once the history row is flushed: (session, record, from, to).
    on_move: Callable[[AsyncSession, Any, S, S], Awaitable[None]] | None = None

    def sources(self, action: A) -> frozenset[S]:
        return frozenset(s for t in self.transitions if t.action == action for s in t.sources)

    def refusal(self, state: S, action: A) -> Conflict:
        """The domain's 409 for `action` on a record in `state`."""
        first = next(t for t in self.transitions if t.action == action)
        if state in first.refusals:
            return Conflict(*first.refusals[state])
        return Conflict(
            self.code, f"{self.called}当前状态为“{self.names[state]}”，不能{first.doing}"
        )

    def require(self, record: Stateful, action: A) -> None:
        """409 unless `action` is declared from the state the record was read in.

        Services call it where they check the state, so that a refused request is
        told the state before anything else about its body; `move` checks again."""
        if record.status not in self.sources(action):
            raise self.refusal(record.status, action)

    def transition(self, state: S, action: A, to: S | None) -> Transition[S, A]:
        found = [
            t
            for t in self.transitions
            if t.action == action and state in t.sources and (to is None or t.lands(state) == to)
        ]
        if not found:
            raise self.refusal(state, action)
        # Two targets for one action from one state: the call must say which.
        assert len(found) == 1, f"{self.name}.{action}: pass `to`"
        return found[0]


async def move(
    session: AsyncSession,
    lifecycle: Lifecycle[S, A, H],
    record: Stateful,
    *,
    caller: Caller,
    action: A,
    to: S | None = None,
    note: str | None = None,
    now: datetime | None = None,
    values: Mapping[str, Any] | None = None,
    guard: Sequence[ColumnElement[bool]] = (),
    history: Mapping[str, Any] | None = None,
    audit_detail: Mapping[str, Any] | None = None,
    notify: Callable[[], Awaitable[None]] | None = None,
) -> H:
    """Take `action` on `record` from the state it was read in; returns the history row.

    `to` only where the action has several declared targets from this state;
    `values`: more columns to set; `guard`: more conditions the row must still meet;
    `history`: more columns of the history row; `audit_detail`: the audit row's
    detail when not {"to", "note"}; `notify`: the notification, sent once the record
    is refreshed. The caller may act: the service has checked that already.
    """
    assert record.id is not None
    read = record.status
    step = lifecycle.transition(read, action, to)
    landed = step.lands(read)
    now = now or utcnow()
    table = table_of(lifecycle.model)
    if not await updated_one(
        session,
        update(table)
        .where(table.c.id == record.id, table.c.status == read, *guard)
        .values(status=landed, updated_at=now, **(values or {})),
    ):
        # Someone else moved it between our read and our write.
        current = (
            await session.execute(select(table.c.status).where(table.c.id == record.id))
        ).scalar_one()
        if current == read and lifecycle.stale is not None:
            raise Conflict(*lifecycle.stale)
        raise lifecycle.refusal(current, action)
    row = lifecycle.history(
        **{
            f"{lifecycle.name}_id": record.id,
            "action": action,
            "from_status": read,
            "to_status": landed,
            "actor_id": caller.id,
            lifecycle.note_key: note,
            "at": now,
            **(history or {}),
        }
    )
    session.add(row)
    await session.flush()
    if lifecycle.on_move is not None:
        await lifecycle.on_move(session, record, read, landed)
    if step.audited:
        await audit.record(
            session,
            caller=caller,
            action=f"{lifecycle.name}.{action.value}",
            target_type=lifecycle.name,
            target_id=record.id,
            org_id=getattr(record, lifecycle.org_key),
            **(audit_detail if audit_detail is not None else {"to": landed, "note": note}),
        )
    await session.refresh(record)
    if notify is not None:
        await notify()
    return row
