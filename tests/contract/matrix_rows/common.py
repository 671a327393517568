"""What a matrix row is; every domain's rows live in a module of this package.

Each module defines `ROWS: dict[tuple[str, str], Row]` keyed by (method, route path
as FastAPI declares it); tests/contract/test_scope_matrix.py collects them all.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from app.models.user import User
from tests.factories.console import console_headers
from tests.factories.users import auth
from tests.factories.world import World

CALLERS = (
    "anonymous",
    "member",
    "other_community_admin",
    "other_street_admin",
    "unit_admin",
    "other_unit_admin",
    "right",
)


@dataclass
class Req:
    path: str
    json: Any = None
    files: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    data: Any = None  # a form, as the console's pages post
    headers: dict[str, str] = field(default_factory=dict)  # sent beside the credential


Build = Callable[[World, str], Awaitable[Req]]
Check = Callable[[World, str, Any], None]


@dataclass
class Row:
    right: str  # the world person who may do it
    expect: dict[str, int]
    build: Build
    # Given the JSON of a 2xx answer, or its text when it is a page.
    check: Check | None = None
    # The route's credential is a console session (the PC console's cookie and its
    # CSRF token) rather than a bearer token.
    console: bool = False


async def credential(world: World, row: Row, person: User) -> dict[str, str]:
    """What a request of `person` carries on the row's route."""
    if row.console:
        return await console_headers(world.app, person)
    return auth(world.app, person)


def body_of(resp: Any) -> Any:
    return resp.json() if "json" in resp.headers.get("content-type", "") else resp.text


def statuses(
    anonymous: int,
    member: int,
    other_community: int,
    other_street: int,
    right: int,
    *,
    unit_admin: int | None = None,
    other_unit_admin: int | None = None,
) -> dict[str, int]:
    """The status per caller. The units' party secretaries (U1's, whose members live
    in C1, and UD's) reach people, not places: unless a row says otherwise, each
    answers as a plain member does, since the unit role adds nothing there."""
    units = (
        member if unit_admin is None else unit_admin,
        member if other_unit_admin is None else other_unit_admin,
    )
    return dict(
        zip(CALLERS, (anonymous, member, other_community, other_street, *units, right), strict=True)
    )


def fixed(path: str, **kw: Any) -> Build:
    async def build(world: World, caller: str) -> Req:
        return Req(path=path.format(**{k: world[k].id for k in ("C1", "S1", "D")}), **kw)

    return build


# The units' party secretaries of the world, who live nowhere (see tests/factories/world.py).
UNIT_ADMINS = ("unit_admin", "other_unit_admin")


def world_key(caller: str, right: str) -> str:
    return right if caller == "right" else caller


__all__ = [
    "CALLERS",
    "UNIT_ADMINS",
    "Req",
    "Row",
    "World",
    "body_of",
    "credential",
    "fixed",
    "statuses",
    "uuid",
    "world_key",
]
