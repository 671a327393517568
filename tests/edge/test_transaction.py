"""The transaction step (app.edge.transaction): one transaction per request, committed
before the answer, rolled back on a 4xx/5xx answer or an error, on both databases.

On PostgreSQL the request's session holds its connection at the driver
(app.core.db.HeldConnection): BEGIN with the first statement, COMMIT on the asyncpg
connection, the ORM's session transaction only when the ORM was used. These drive the
step itself (`opened`, `answered`, as app.edge.route.AppRoute composes them) with
work that mixes `Statement`s and the ORM, savepoints, an early commit and the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Integer, String, bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Statement, WriteInReadingSession, as_loaded, table_of, utcnow
from app.core.errors import Conflict
from app.devtools.wechat_stub import StubState
from app.edge import admission, transaction
from app.main import create_app
from app.models.notification import NotificationKind, SendStatus, SubscribeGrant, WeChatSend
from app.models.org import Org
from app.services.notifications import outbox
from app.services.notifications.outbox import Content
from tests.conftest import empty_all_tables, forget_wechat_token, make_settings
from tests.factories.world import World, build_world

ORGS = table_of(Org)
RENAME = Statement(
    update(ORGS)
    .where(ORGS.c.id == bindparam("org", type_=Integer))
    .values(name=bindparam("new_name", type_=String))
)
NAME_OF = Statement(select(ORGS.c.name).where(ORGS.c.id == bindparam("org", type_=Integer)))
ORG_ROW = Statement(select(ORGS).where(ORGS.c.id == bindparam("org", type_=Integer)))
# An org's row again: its primary key taken, an IntegrityError.
TWIN = Statement(insert(ORGS), column_keys=[c.key for c in ORGS.c])

Work = Callable[[AsyncSession], Awaitable[Response]]


def _request(app: FastAPI, method: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": method,
            "app": app,
            "path": "/test",
            "query_string": b"",
            "headers": [],
        }
    )


async def through_the_edge(app: FastAPI, work: Work, method: str = "POST") -> Response:
    """`work` as a route's endpoint, between the steps AppRoute puts around it."""
    request = _request(app, method)
    settings = app.state.settings
    async with (
        admission.turn(request, settings),
        transaction.opened(request, settings) as session,
    ):

        async def endpoint(_request: Request) -> Response:
            return await work(session)

        return await transaction.answered(endpoint, request, session)


async def names(app: FastAPI, *orgs: Org) -> list[str]:
    async with app.state.sessionmaker() as session:
        return [(await session.get(Org, org.id)).name for org in orgs]  # type: ignore[union-attr]


def connections_out(app: FastAPI) -> int:
    """Connections checked out of the pool (PostgreSQL; SQLite keeps none)."""
    pool = app.state.engine.sync_engine.pool
    return int(pool.checkedout()) if hasattr(pool, "checkedout") else 0


def created() -> Response:
    return JSONResponse({"ok": True}, status_code=201)


async def write_both_ways(session: AsyncSession, world: World) -> None:
    """C1 renamed by a Statement, C2 by the ORM (an object as loaded, changed), C3 by
    the session's execute."""
    await RENAME.execute(session, {"org": world["C1"].id, "new_name": "语句改名"})
    row = await ORG_ROW.first(session, {"org": world["C2"].id})
    as_loaded(session, Org, row._asdict()).name = "对象改名"
    await session.execute(
        update(Org).where(Org.id == world["C3"].id).values(name="执行改名"),
        execution_options={"synchronize_session": False},
    )


async def test_what_a_request_writes_both_ways_is_committed_before_it_answers(world):
    app = world.app
    before = await names(app, world["C1"], world["C2"], world["C3"])

    async def work(session: AsyncSession) -> Response:
        await write_both_ways(session, world)
        # Its own writes are what the request reads back, by either way.
        assert (await NAME_OF.first(session, {"org": world["C3"].id})).name == "执行改名"
        return created()

    assert (await through_the_edge(app, work)).status_code == 201
    assert await names(app, world["C1"], world["C2"], world["C3"]) == [
        "语句改名",
        "对象改名",
        "执行改名",
    ]
    assert before != ["语句改名", "对象改名", "执行改名"]
    assert connections_out(app) == 0


async def test_statements_alone_are_committed_too(world):
    async def work(session: AsyncSession) -> Response:
        await RENAME.execute(session, {"org": world["C1"].id, "new_name": "只有语句"})
        return created()

    assert (await through_the_edge(world.app, work)).status_code == 201
    assert await names(world.app, world["C1"]) == ["只有语句"]
    assert connections_out(world.app) == 0


class Broken(RuntimeError):
    pass


async def answer_409(_session: AsyncSession) -> Response:
    return JSONResponse({"code": "conflict"}, status_code=409)


async def answer_500(_session: AsyncSession) -> Response:
    return JSONResponse({"code": "internal"}, status_code=500)


async def raise_conflict(_session: AsyncSession) -> Response:
    raise Conflict("conflict", "冲突")


async def raise_error(_session: AsyncSession) -> Response:
    raise Broken("the endpoint failed")


@pytest.mark.parametrize("ending", [answer_409, answer_500, raise_conflict, raise_error])
async def test_a_4xx_or_5xx_answer_or_an_error_rolls_back_every_write(world, ending):
    app = world.app
    before = await names(app, world["C1"], world["C2"], world["C3"])

    async def work(session: AsyncSession) -> Response:
        await write_both_ways(session, world)
        return await ending(session)

    try:
        response = await through_the_edge(app, work)
    except (Conflict, Broken):
        pass
    else:
        assert response.status_code >= 400
    assert await names(app, world["C1"], world["C2"], world["C3"]) == before
    assert connections_out(app) == 0


async def test_a_failed_savepoint_undoes_its_own_writes_only(world):
    """Savepoints are the ORM's, on the request's one connection: a Statement's write
    inside one goes with it, one released stays, and the request commits the rest."""
    app = world.app

    async def work(session: AsyncSession) -> Response:
        await RENAME.execute(session, {"org": world["C1"].id, "new_name": "保存点之前"})
        c1 = (await ORG_ROW.first(session, {"org": world["C1"].id}))._asdict()
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await RENAME.execute(session, {"org": world["C2"].id, "new_name": "撤回的"})
                await session.execute(
                    update(Org).where(Org.id == world["C3"].id).values(name="也撤回的"),
                    execution_options={"synchronize_session": False},
                )
                await TWIN.execute(session, c1)
        async with session.begin_nested():
            await RENAME.execute(session, {"org": world["C3"].id, "new_name": "释放的"})
        await RENAME.execute(session, {"org": world["C2"].id, "new_name": "保存点之后"})
        return created()

    assert (await through_the_edge(app, work)).status_code == 201
    assert await names(app, world["C1"], world["C2"], world["C3"]) == [
        "保存点之前",
        "保存点之后",
        "释放的",
    ]
    assert connections_out(app) == 0


async def test_an_early_commit_gives_the_connection_back_and_the_request_goes_on(world):
    """An upload commits before decoding its image so that no connection waits on it
    (app.services.media.upload_photo): what came before is committed, the connection
    is back in the pool, and what comes after is the request's to commit or not."""
    app = world.app
    pg = not app.state.settings.is_sqlite

    async def work(session: AsyncSession) -> Response:
        await RENAME.execute(session, {"org": world["C1"].id, "new_name": "先提交的"})
        if pg:
            assert connections_out(app) == 1
        await session.commit()
        assert connections_out(app) == 0
        assert await names(app, world["C1"]) == ["先提交的"]
        await RENAME.execute(session, {"org": world["C2"].id, "new_name": "后来撤回的"})
        return JSONResponse({}, status_code=422)

    c2 = await names(app, world["C2"])
    assert (await through_the_edge(app, work)).status_code == 422
    assert await names(app, world["C1"], world["C2"]) == ["先提交的", *c2]
    assert connections_out(app) == 0


async def test_a_read_writes_nothing_and_on_postgresql_runs_without_a_transaction(world):
    app = world.app

    async def work(session: AsyncSession) -> Response:
        assert (await NAME_OF.first(session, {"org": world["C1"].id})).name
        assert (await session.get(Org, world["C2"].id)) is not None
        if not app.state.settings.is_sqlite:
            raw = await (await session.connection()).get_raw_connection()
            assert not raw.driver_connection.is_in_transaction()
            with pytest.raises(WriteInReadingSession):
                await RENAME.execute(session, {"org": world["C1"].id, "new_name": "读时写"})
            with pytest.raises(WriteInReadingSession):
                await session.execute(text("SELECT 1 FROM orgs FOR UPDATE"))
        return JSONResponse({})

    for _ in range(3):
        assert (await through_the_edge(app, work, method="GET")).status_code == 200
    assert connections_out(app) == 0

    # Every connection went back as the pool had it: a write is a transaction again.
    # (The pool hands out its longest idle connection first: as many writes as it
    # holds connections meet each of them.)
    async def write(session: AsyncSession) -> Response:
        await RENAME.execute(session, {"org": world["C1"].id, "new_name": "读后写"})
        return JSONResponse({}, status_code=400)

    pool = app.state.engine.sync_engine.pool
    for _ in range(max(1, pool.checkedin() if hasattr(pool, "checkedin") else 1)):
        await through_the_edge(app, write)
    assert await names(app, world["C1"]) != ["读后写"]


LOCKED_NAME_OF = Statement(
    select(ORGS.c.name).where(ORGS.c.id == bindparam("org", type_=Integer)).with_for_update()
)


async def in_transaction(session: AsyncSession) -> bool:
    """Whether PostgreSQL holds a transaction open on the request's connection."""
    raw = await (await session.connection()).get_raw_connection()
    return bool(raw.driver_connection.is_in_transaction())


async def test_a_write_begins_at_its_first_write_and_plain_reads_before_it_run_ahead(world):
    app = world.app
    postgres = not app.state.settings.is_sqlite

    async def read_rename_and_refuse(session: AsyncSession) -> Response:
        assert (await NAME_OF.first(session, {"org": world["C1"].id})).name != "先读后写"
        if postgres:
            assert not await in_transaction(session)
        await RENAME.execute(session, {"org": world["C1"].id, "new_name": "先读后写"})
        if postgres:
            assert await in_transaction(session)
        # Once begun, a read is inside: it sees the request's own write.
        assert (await NAME_OF.first(session, {"org": world["C1"].id})).name == "先读后写"
        return JSONResponse({"code": "conflict"}, status_code=409)

    assert (await through_the_edge(app, read_rename_and_refuse)).status_code == 409
    assert await names(app, world["C1"]) != ["先读后写"]

    async def only_reads(session: AsyncSession) -> Response:
        assert (await NAME_OF.first(session, {"org": world["C2"].id})).name
        if postgres:
            assert not await in_transaction(session)
        return created()

    assert (await through_the_edge(app, only_reads)).status_code == 201

    async def locks(session: AsyncSession) -> Response:
        # A lock is held by a transaction only: it begins one, as a write does.
        assert (await LOCKED_NAME_OF.first(session, {"org": world["C2"].id})).name
        if postgres:
            assert await in_transaction(session)
        return created()

    assert (await through_the_edge(app, locks)).status_code == 201
    assert connections_out(app) == 0


async def test_a_constraint_broken_by_a_statement_is_rolled_back_and_the_session_goes_on(world):
    """The idempotency step's twin: a collision, then a read in the same session (the
    winner's answer), then the rollback."""
    app = world.app

    async def work(session: AsyncSession) -> Response:
        c1 = (await ORG_ROW.first(session, {"org": world["C1"].id}))._asdict()
        await RENAME.execute(session, {"org": world["C2"].id, "new_name": "冲突前"})
        with pytest.raises(IntegrityError):
            await TWIN.execute(session, c1)
        await session.rollback()
        assert (await NAME_OF.first(session, {"org": world["C1"].id})).name == c1["name"]
        return JSONResponse({}, status_code=409)

    c2 = await names(app, world["C2"])
    assert (await through_the_edge(app, work)).status_code == 409
    assert await names(app, world["C2"]) == c2
    assert connections_out(app) == 0


# --- the outbox: handed over after the commit, never before, nothing on a rollback ------

TPL = "tpl-txn-0001"
SEND_PATH = "cgi-bin/message/subscribe/send"


@pytest.fixture
async def outbox_app(
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    wechat_stub: tuple[StubState, str],
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url,
        tmp_path_factory.mktemp("transaction"),
        wechat_stub[1],
        wechat_templates={"wish_claimed": TPL},
    )
    application = create_app(settings)
    wechat_stub[0].reset()
    forget_wechat_token(application)
    yield application
    await application.state.jobs.drain()
    await empty_all_tables(application)
    forget_wechat_token(application)
    await application.state.engine.dispose()


def _content() -> Content:
    return Content(
        kind=NotificationKind.wish_claimed,
        title="心愿已被认领",
        body="党员甲认领了心愿",
        subject="给孩子买一个书包",
        status="已认领",
        note="认领人：党员甲",
        at=utcnow(),
    )


async def _sends(app: FastAPI) -> list[Any]:
    async with app.state.sessionmaker() as session:
        return list((await session.execute(select(WeChatSend))).scalars())


@pytest.mark.parametrize("status", [201, 409])
async def test_the_outbox_hands_a_send_over_after_the_commit_only(outbox_app, wechat_stub, status):
    app = outbox_app
    stub = wechat_stub[0]
    world = await build_world(app)
    secretary = world.user("community_admin")
    async with app.state.sessionmaker() as session, session.begin():
        session.add(SubscribeGrant(user_id=secretary.id or 0, template_id=TPL, balance=1))
    jobs = app.state.jobs

    async def work(session: AsyncSession) -> Response:
        await RENAME.execute(session, {"org": world["C1"].id, "new_name": "通知前"})
        await outbox.notify(session, user_ids=[secretary.id or 0], content=_content())
        async with session.begin_nested():
            await session.execute(text("SELECT 1"))
        await RENAME.execute(session, {"org": world["C2"].id, "new_name": "通知后"})
        await jobs.drain()
        assert stub.count(SEND_PATH) == 0, "handed over before the commit"
        return JSONResponse({}, status_code=status)

    assert (await through_the_edge(app, work)).status_code == status
    await jobs.drain()
    sends = await _sends(app)
    if status == 201:
        assert [s.status for s in sends] == [SendStatus.sent]
        assert stub.count(SEND_PATH) == 1
        assert await names(app, world["C1"], world["C2"]) == ["通知前", "通知后"]
    else:
        assert sends == [] and stub.count(SEND_PATH) == 0
        assert await names(app, world["C1"]) == [world["C1"].name]
    assert connections_out(app) == 0
