"""Rows for the in-app message box and the subscribe-message grants.

Everything under /me is the caller's own: anyone logged in gets their own box, a
message of someone else is 404 like a missing one, and nobody reaches another's.
"""

from __future__ import annotations

from typing import Any

from app.core.db import utcnow
from app.models.notification import Message, NotificationKind
from tests.contract.matrix_rows.common import Req, Row, fixed, statuses, world_key
from tests.factories.world import World

MEMBERS_MESSAGE = "党员甲的报到提醒"


async def _members_message(world: World) -> int:
    async with world.app.state.sessionmaker() as session, session.begin():
        message = Message(
            user_id=world.user("member").id or 0,
            kind=NotificationKind.report_in_reminder,
            title=MEMBERS_MESSAGE,
            body="你本月还没有到社区报到",
            created_at=utcnow(),
        )
        session.add(message)
        await session.flush()
        return message.id or 0


async def _list(world: World, caller: str) -> Req:
    await _members_message(world)
    return Req(path="/api/v1/me/messages")


def _list_check(world: World, caller: str, body: Any) -> None:
    titles = [m["title"] for m in body["items"]]
    assert titles == ([MEMBERS_MESSAGE] if world_key(caller, "member") == "member" else [])


async def _read(world: World, caller: str) -> Req:
    return Req(path=f"/api/v1/me/messages/{await _members_message(world)}/read")


async def _read_all(world: World, caller: str) -> Req:
    await _members_message(world)
    return Req(path="/api/v1/me/messages/read-all")


def _read_all_check(world: World, caller: str, body: Any) -> None:
    assert body["marked"] == (1 if world_key(caller, "member") == "member" else 0)


ROWS: dict[tuple[str, str], Row] = {
    ("GET", "/api/v1/me/messages"): Row(
        "member", statuses(401, 200, 200, 200, 200), _list, _list_check
    ),
    ("POST", "/api/v1/me/messages/read-all"): Row(
        "member", statuses(401, 200, 200, 200, 200), _read_all, _read_all_check
    ),
    # Only the member's own; everyone else's answer is that of a missing message.
    ("POST", "/api/v1/me/messages/{message_id}/read"): Row(
        "member", statuses(401, 200, 404, 404, 200, unit_admin=404, other_unit_admin=404), _read
    ),
    ("GET", "/api/v1/me/subscriptions"): Row(
        "member", statuses(401, 200, 200, 200, 200), fixed("/api/v1/me/subscriptions")
    ),
    ("POST", "/api/v1/me/subscriptions"): Row(
        "member",
        statuses(401, 200, 200, 200, 200),
        fixed("/api/v1/me/subscriptions", json={"results": {"tpl-unknown": "accept"}}),
    ),
}
