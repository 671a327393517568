"""What a matrix row is; every domain's rows live in a module of this package.

Each module defines `ROWS: dict[tuple[str, str], Row]` keyed by (method, route path
as FastAPI declares it); tests/contract/test_scope_matrix.py collects them all.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.factories.world import World

CALLERS = ("anonymous", "member", "other_community_admin", "other_street_admin", "right")


@dataclass
class Req:
    path: str
    json: Any = None
    files: Any = None
    params: dict[str, Any] = field(default_factory=dict)


Build = Callable[[World, str], Awaitable[Req]]
Check = Callable[[World, str, Any], None]


@dataclass
class Row:
    right: str  # the world person who may do it
    expect: dict[str, int]
    build: Build
    check: Check | None = None


def statuses(
    anonymous: int, member: int, other_community: int, other_street: int, right: int
) -> dict[str, int]:
    return dict(
        zip(CALLERS, (anonymous, member, other_community, other_street, right), strict=True)
    )


def fixed(path: str, **kw: Any) -> Build:
    async def build(world: World, caller: str) -> Req:
        return Req(path=path.format(**{k: world[k].id for k in ("C1", "S1", "D")}), **kw)

    return build


def world_key(caller: str, right: str) -> str:
    return right if caller == "right" else caller


__all__ = ["CALLERS", "Req", "Row", "World", "fixed", "statuses", "uuid", "world_key"]
