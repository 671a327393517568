"""One way a list pages (app.core.db.paged): the page, and a count only when the page
cannot tell the total."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from app.core.db import paged, paged_scalars
from app.models.org import Org, OrgLevel
from tests.factories.orgs import insert_org
from tests.factories.world import build_world


@pytest.fixture
async def seven_communities(db):
    """A street with seven communities, and the statements each page sends."""
    world = await build_world(db)
    async with db.state.sessionmaker() as session, session.begin():
        street = await insert_org(
            session, name="分页街道", level=OrgLevel.street, parent=world["D"]
        )
        for n in range(7):
            await insert_org(session, name=f"分页社区{n}", level=OrgLevel.community, parent=street)
    sent: list[str] = []  # the SELECTs (SQLite's BEGIN goes the same way: not counted)
    event.listen(
        db.state.engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _cur, sql, *_: sent.append(sql) if sql.startswith("SELECT") else None,
    )
    return street, sent


def _communities_of(street: Org):
    return select(Org).where(col(Org.parent_id) == street.id).order_by(col(Org.id))


@pytest.mark.parametrize(
    ("offset", "limit", "names", "total", "counted"),
    [
        (0, 20, [f"分页社区{n}" for n in range(7)], 7, False),  # one page holds them all
        (0, 7, [f"分页社区{n}" for n in range(7)], 7, True),  # full: more may follow
        (0, 3, ["分页社区0", "分页社区1", "分页社区2"], 7, True),
        (6, 3, ["分页社区6"], 7, False),  # the last, short page
        (6, 1, ["分页社区6"], 7, True),  # the last page, full
        (9, 3, [], 7, True),  # past the end: only a count can tell
    ],
)
async def test_a_page_counts_only_when_it_cannot_tell_the_total(
    db, seven_communities, offset, limit, names, total, counted
):
    street, sent = seven_communities
    async with db.state.sessionmaker() as session:
        sent.clear()
        orgs, found = await paged_scalars(
            session, _communities_of(street), offset=offset, limit=limit
        )
    assert [o.name for o in orgs] == names
    assert found == total
    assert len(sent) == (2 if counted else 1)


async def test_an_empty_list_is_one_statement_and_rows_keep_their_columns(db, seven_communities):
    street, sent = seven_communities
    async with db.state.sessionmaker() as session:
        sent.clear()
        none, total = await paged(
            session,
            select(Org.id, Org.name).where(col(Org.parent_id) == -1).order_by(col(Org.id)),
            offset=0,
            limit=20,
        )
        rows, _ = await paged(
            session,
            select(Org.id, Org.name).where(col(Org.parent_id) == street.id).order_by(col(Org.id)),
            offset=0,
            limit=2,
        )
    assert (none, total) == ([], 0)
    assert [name for _id, name in rows] == ["分页社区0", "分页社区1"]
    assert len(sent) == 1 + 2
