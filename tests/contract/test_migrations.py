"""The Alembic migrations, on SQLite and PostgreSQL, each test in a fresh database.

pytest-alembic's built-in tests check the history itself: one head, an upgrade from
nothing to head, models that match the DDL the migrations produce, and every step
down and up again. The last test upgrades a database the previous release filled and
checks that nothing it stored is lost, and that the app still reads it.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.config import Config
from pytest_alembic import Config as PytestAlembicConfig
from pytest_alembic import MigrationContext, runner
from pytest_alembic.tests import (  # noqa: F401  (collected here, with the fixtures below)
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import MetaData, Table, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from app.core.config import to_async_url
from app.core.security import PiiCipher, issue_access_token, mask_phone
from app.devtools.wechat_stub import StubState
from app.main import create_app
from app.models.user import User
from app.models.volunteer_hours import HourStatus
from app.models.wish import WishStatus
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    ROOT,
    _admin,
    _postgres_available,
    make_settings,
    run_migrations,
)
from tests.factories.tasks import make_check_in, make_report_in, make_task
from tests.factories.volunteer_hours import insert_entry
from tests.factories.wishes import insert_wish
from tests.factories.world import build_world
from tests.support.counts import assert_counts_are_exact


def alembic_config() -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    # alembic.ini's logging section would replace the test run's handlers.
    cfg.attributes["configure_logger"] = False
    return cfg


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A plain URL of an empty database, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    if reason := _postgres_available():
        pytest.skip(reason)
    name = f"chuangwen_mig_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# The fixture pytest-alembic's tests ask for, as its plugin (switched off in
# pyproject.toml) would build it. The engine is async (the app has only async
# drivers); alembic/env.py runs the migrations on it in a loop of its own, and
# NullPool keeps no connection from one such loop to the next.
@pytest.fixture
def alembic_runner(empty_database: str) -> Iterator[MigrationContext]:
    engine = create_async_engine(to_async_url(empty_database), poolclass=NullPool)
    config = PytestAlembicConfig.from_raw_config(alembic_config())
    with runner(config=config, engine=engine) as context:
        yield context


# --- An upgrade keeps the previous release's data -----------------------------------

# The schema of the last release; its rows are written with SQL against the tables as
# they were then (reflected), never through today's models, which may have moved on.
PREVIOUS_RELEASE = "0ba9c38b120b"
API_KEY = "cw_previous-release-key-0123456789abcdefghij"
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


class OldRows:
    """Rows put into the previous release's schema: table -> [(id, values)]."""

    def __init__(self, conn: AsyncConnection, tables: dict[str, Table]):
        self.conn = conn
        self.tables = tables
        self.rows: dict[str, list[tuple[int, dict[str, Any]]]] = {}

    async def add(self, table: str, **values: Any) -> int:
        t = self.tables[table]
        stored = {k: _to_db(v, self.conn.dialect.name) for k, v in values.items()}
        # The database numbers the rows, as it did in production: its sequences must
        # carry on past them after the upgrade.
        row_id = (await self.conn.execute(t.insert().values(stored).returning(t.c.id))).scalar_one()
        self.rows.setdefault(table, []).append((row_id, values))
        return int(row_id)


def _to_db(value: Any, dialect: str) -> Any:
    # The previous release stored naive UTC on SQLite (app.core.db.UTCDateTime).
    if isinstance(value, datetime) and dialect == "sqlite":
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _from_db(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


async def _reflect(conn: AsyncConnection) -> dict[str, Table]:
    meta = MetaData()
    await conn.run_sync(lambda c: meta.reflect(c))
    return dict(meta.tables)


async def fill_previous_release(conn: AsyncConnection, cipher: PiiCipher) -> OldRows:
    old = OldRows(conn, await _reflect(conn))

    def phone(number: str) -> dict[str, str]:
        return {
            "phone_cipher": cipher.encrypt(number),
            "phone_hash": cipher.lookup_hash(number),
            "phone_masked": mask_phone(number),
        }

    stamps = {"created_at": at(-720), "updated_at": at(-700)}
    # Paths need the ids, so each org is written with its final path afterwards.
    district = await old.add(
        "orgs", name="滨江区", code="330108", level="district", parent_id=None, path="~d", **stamps
    )
    street = await old.add(
        "orgs", name="长河街道", code=None, level="street", parent_id=district, path="~s", **stamps
    )
    community = await old.add(
        "orgs",
        name="江南社区",
        code="C-01",
        level="community",
        parent_id=street,
        path="~c",
        **stamps,
    )
    unit = await old.add(
        "orgs", name="区财政局", code=None, level="unit", parent_id=district, path="~u", **stamps
    )
    paths = {
        district: f"/{district}/",
        street: f"/{district}/{street}/",
        community: f"/{district}/{street}/{community}/",
        unit: f"/{district}/{unit}/",
    }
    orgs = old.tables["orgs"]
    for org_id, path in paths.items():
        await conn.execute(orgs.update().where(orgs.c.id == org_id).values(path=path))
    for org_id, values in old.rows["orgs"]:
        values["path"] = paths[org_id]

    admin = await old.add(
        "users",
        name="张区长",
        **phone("13800138001"),
        community_id=community,
        unit_id=None,
        is_party_member=True,
        openid="o-prev-admin",
        **stamps,
    )
    member = await old.add(
        "users",
        name="李党员",
        **phone("13900139002"),
        community_id=community,
        unit_id=unit,
        is_party_member=True,
        openid="o-prev-member",
        **stamps,
    )
    await old.add(
        "users",
        name="王五",
        **phone("13700137003"),
        community_id=community,
        unit_id=None,
        is_party_member=False,
        openid=None,
        **stamps,
    )
    inspector = await old.add(
        "users",
        name="赵督查",
        phone_cipher=None,
        phone_hash=None,
        phone_masked=None,
        community_id=None,
        unit_id=None,
        is_party_member=False,
        openid="o-prev-inspector",
        **stamps,
    )
    await old.add(
        "role_grants",
        user_id=admin,
        role="district_admin",
        org_id=district,
        granted_by_id=None,
        created_at=at(-720),
    )
    await old.add(
        "role_grants",
        user_id=inspector,
        role="inspector",
        org_id=street,
        granted_by_id=admin,
        created_at=at(-710),
    )
    await old.add(
        "role_grants",
        user_id=member,
        role="info_officer",
        org_id=community,
        granted_by_id=admin,
        created_at=at(-710),
    )

    task = await old.add(
        "tasks",
        org_id=community,
        title="清理楼道杂物",
        description="周六上午，江南社区3幢",
        category="sanitation",
        starts_at=at(0),
        ends_at=at(3),
        lat=30.2084,
        lng=120.2119,
        radius_m=300,
        capacity=20,
        checked_in_count=1,
        created_by_id=admin,
        **stamps,
    )
    check_in = await old.add(
        "check_ins",
        task_id=task,
        user_id=member,
        checked_in_at=at(0.25),
        check_in_lat=30.2085,
        check_in_lng=120.2118,
        checked_out_at=at(1.75),
        check_out_lat=30.2086,
        check_out_lng=120.2117,
        minutes=90,
        created_at=at(0.25),
    )
    await old.add(
        "report_ins",
        user_id=member,
        community_id=community,
        month="2026-03",
        reported_at=at(1),
        lat=30.2084,
        lng=120.2119,
        note="到社区报到",
        created_at=at(1),
    )

    photo = await old.add(
        "media",
        uploader_id=member,
        storage_key="0123456789abcdef0123456789abcdef.jpg",
        thumbnail_key="0123456789abcdef0123456789abcdef-thumb.jpg",
        content_type="image/jpeg",
        size=48213,
        width=1280,
        height=960,
        sha256="ab" * 32,
        phash="f0e1d2c3b4a59687",
        created_at=at(2),
    )
    wish = await old.add(
        "wishes",
        title="帮陈奶奶买米",
        description="一袋10斤的大米",
        community_id=community,
        beneficiary_name="陈秀英",
        beneficiary_phone_cipher=cipher.encrypt("13600136004"),
        beneficiary_phone_masked=mask_phone("13600136004"),
        deadline=date(2026, 3, 31),
        status="claimed",
        created_by_id=admin,
        claimed_by_id=member,
        claimed_at=at(5),
        fulfilled_at=None,
        fulfil_note=None,
        confirmed_at=None,
        created_at=at(4),
        updated_at=at(5),
    )
    await old.add(
        "wishes",
        title="陪同就医",
        description="周三上午去区医院复诊",
        community_id=community,
        beneficiary_name="周建国",
        beneficiary_phone_cipher=None,
        beneficiary_phone_masked=None,
        deadline=None,
        status="open",
        created_by_id=admin,
        claimed_by_id=None,
        claimed_at=None,
        fulfilled_at=None,
        fulfil_note=None,
        confirmed_at=None,
        created_at=at(4),
        updated_at=at(4),
    )
    await old.add(
        "wish_events",
        wish_id=wish,
        action="create",
        from_status=None,
        to_status="open",
        actor_id=admin,
        note=None,
        at=at(4),
    )
    await old.add(
        "wish_events",
        wish_id=wish,
        action="claim",
        from_status="open",
        to_status="claimed",
        actor_id=member,
        note=None,
        at=at(5),
    )
    await old.add(
        "media_attachments", media_id=photo, record_type="wish", record_id=wish, created_at=at(5)
    )

    await old.add(
        "volunteer_hours",
        user_id=member,
        org_id=community,
        activity="清理楼道杂物",
        started_at=at(0.25),
        ended_at=at(1.75),
        minutes=90,
        source="check_in",
        source_id=check_in,
        status="approved",
        reviewed_by_id=None,
        reviewed_at=None,
        review_reason=None,
        created_at=at(1.75),
    )
    await old.add(
        "volunteer_hours",
        user_id=member,
        org_id=community,
        activity="文明劝导",
        started_at=at(24),
        ended_at=at(26),
        minutes=120,
        source="manual",
        source_id=None,
        status="rejected",
        reviewed_by_id=admin,
        reviewed_at=at(30),
        review_reason="时间与签到记录重叠",
        created_at=at(27),
    )

    point = await old.add(
        "points",
        name="江南农贸市场",
        kind="market",
        org_id=community,
        lat=30.2101,
        lng=120.2133,
        responsible_user_id=admin,
        created_by_id=admin,
        **stamps,
    )
    problem = await old.add(
        "problems",
        org_id=community,
        point_id=point,
        category="sanitation",
        description="市场东门垃圾堆放",
        lat=30.2102,
        lng=120.2134,
        deadline=date(2026, 3, 5),
        deadline_at=datetime(2026, 3, 5, 16, tzinfo=UTC),
        status="rectified",
        reported_by_id=inspector,
        rectified_at=at(20),
        rectify_note="已清运",
        rectified_by_id=admin,
        closed_at=None,
        created_at=at(2),
        updated_at=at(20),
    )
    await old.add(
        "problem_events",
        problem_id=problem,
        action="create",
        from_status=None,
        to_status="open",
        actor_id=inspector,
        note=None,
        at=at(2),
    )
    await old.add(
        "problem_events",
        problem_id=problem,
        action="rectify",
        from_status="open",
        to_status="rectified",
        actor_id=admin,
        note="已清运",
        at=at(20),
    )

    article = await old.add(
        "articles",
        title="江南社区开展楼道清理",
        body="3月2日，江南社区组织党员……",
        org_id=community,
        author_id=member,
        status="in_review",
        review_org_id=street,
        content_flagged=False,
        needs_human_review=True,
        first_submitted_at=at(6),
        submitted_at=at(6),
        published_at=None,
        created_at=at(5.5),
        updated_at=at(6),
    )
    await old.add(
        "articles",
        title="长河街道文明创建简报",
        body="本周……",
        org_id=street,
        author_id=admin,
        status="published",
        review_org_id=None,
        content_flagged=False,
        needs_human_review=False,
        first_submitted_at=at(3),
        submitted_at=at(3),
        published_at=at(8),
        created_at=at(2.5),
        updated_at=at(8),
    )
    await old.add(
        "article_events",
        article_id=article,
        action="create",
        from_status=None,
        to_status="draft",
        level_org_id=None,
        actor_id=member,
        comment=None,
        at=at(5.5),
    )
    await old.add(
        "article_events",
        article_id=article,
        action="submit",
        from_status="draft",
        to_status="in_review",
        level_org_id=community,
        actor_id=member,
        comment=None,
        at=at(6),
    )

    await old.add(
        "api_keys",
        name="12345热线",
        org_id=street,
        scopes="read:tasks read:wishes",
        prefix=API_KEY[:10],
        key_hash=hashlib.sha256(API_KEY.encode()).hexdigest(),
        rate_limit_per_minute=120,
        created_by_id=admin,
        created_at=at(-24),
        revoked_at=None,
    )
    await old.add(
        "audit_log",
        at=at(-24),
        actor_id=admin,
        actor_name="张区长",
        action="api_key.create",
        target_type="api_key",
        target_id=1,
        org_id=street,
        detail='{"name": "12345热线"}',
        client_ip="10.0.0.8",
    )
    await old.add(
        "idempotency_records",
        principal=f"user:{member}",
        key="3f1c2a9e-report",
        request_hash="cd" * 32,
        status_code=201,
        response_body='{"id": 1}',
        created_at=at(1),
    )
    return old


async def test_an_upgrade_keeps_every_row_of_the_previous_release(
    empty_database: str, tmp_path: Path, wechat_stub: tuple[StubState, str]
) -> None:
    settings = make_settings(empty_database, tmp_path, wechat_stub[1])
    cipher = PiiCipher(settings.pii_key)
    await asyncio.to_thread(run_migrations, empty_database, PREVIOUS_RELEASE)
    engine = create_async_engine(settings.async_database_url, poolclass=NullPool)
    async with engine.begin() as conn:
        old = await fill_previous_release(conn, cipher)
        previous_tables = set(old.tables) - {"alembic_version"}
    assert set(old.rows) == previous_tables, "every table of the previous release has rows"

    await asyncio.to_thread(run_migrations, empty_database, "head")

    async with engine.connect() as conn:
        tables = await _reflect(conn)
        for name, rows in old.rows.items():
            t = tables[name]
            found = {r.id: r._mapping for r in await conn.execute(select(t))}
            assert sorted(found) == sorted(row_id for row_id, _ in rows), name
            for row_id, values in rows:
                kept = {k: _from_db(found[row_id][k]) for k in values}
                assert kept == values, f"{name} {row_id}"
    await engine.dispose()

    # The app of today reads what the previous release wrote.
    ids = {name: [row_id for row_id, _ in rows] for name, rows in old.rows.items()}
    admin, member, roster, _ = ids["users"]
    district, street, community, _ = ids["orgs"]
    app = create_app(settings)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1"
        ) as c:
            as_admin = {
                "Authorization": f"Bearer {issue_access_token(settings, admin, 0).access_token}"
            }

            me = (await c.get("/me", headers=as_admin)).json()
            assert (me["phone"], me["phone_masked"]) == ("13800138001", "138****8001")
            assert [(r["role"], r["org_id"]) for r in me["roles"]] == [("district_admin", district)]

            orgs = (await c.get("/orgs", headers=as_admin)).json()
            assert orgs["total"] == 4

            person = (await c.get(f"/users/{roster}", headers=as_admin)).json()
            assert (person["name"], person["phone_masked"]) == ("王五", "137****7003")

            wish = (await c.get(f"/wishes/{ids['wishes'][0]}", headers=as_admin)).json()
            assert (wish["beneficiary_name"], wish["beneficiary_phone"]) == (
                "陈秀英",
                "13600136004",
            )
            assert (wish["status"], wish["claimed_by_id"]) == ("claimed", member)
            assert wish["photo_ids"] == ids["media"]
            history = (await c.get(f"/wishes/{ids['wishes'][0]}/history", headers=as_admin)).json()
            assert [e["action"] for e in history] == ["create", "claim"]

            task = (await c.get(f"/tasks/{ids['tasks'][0]}", headers=as_admin)).json()
            assert (task["title"], task["checked_in_count"], task["capacity"]) == (
                "清理楼道杂物",
                1,
                20,
            )
            check_ins = await c.get(f"/tasks/{ids['tasks'][0]}/check-ins", headers=as_admin)
            assert [ci["user_id"] for ci in check_ins.json()["items"]] == [member]

            # The month's figures count the old rows, where today's code keeps them.
            board = await c.get(
                "/dashboard", params={"org_id": district, "month": "2026-03"}, headers=as_admin
            )
            assert board.status_code == 200, board.text
            figures = board.json()
            assert (figures["members"], figures["party_members"]) == (3, 2)
            assert (figures["report_ins"], figures["check_ins"]) == (1, 1)
            assert figures["approved_volunteer_minutes"] == 90
            assert (figures["wishes_open"], figures["wishes_claimed"]) == (1, 1)
            assert figures["problems_rectified"] == 1
            assert (figures["articles_submitted"], figures["articles_published"]) == (2, 1)

            problem = (await c.get(f"/problems/{ids['problems'][0]}", headers=as_admin)).json()
            assert (problem["status"], problem["rectify_note"]) == ("rectified", "已清运")
            assert [e["action"] for e in problem["history"]] == ["create", "rectify"]

            article = (await c.get(f"/articles/{ids['articles'][0]}", headers=as_admin)).json()
            assert (article["status"], article["review_org_id"]) == ("in_review", street)

            hours = (await c.get(f"/volunteer-hours?user_id={member}", headers=as_admin)).json()
            assert sorted((h["minutes"], h["status"]) for h in hours["items"]) == [
                (90, "approved"),
                (120, "rejected"),
            ]

            audit = (await c.get("/audit-log", headers=as_admin)).json()
            assert [(e["action"], e["detail"]) for e in audit["items"]] == [
                ("api_key.create", {"name": "12345热线"})
            ]

            # The stored key hash still admits the third party, within its org.
            by_key = await c.get("/tasks", headers={"X-API-Key": API_KEY})
            assert [t["id"] for t in by_key.json()["items"]] == ids["tasks"]

            # The openid still finds its person, and the phone hash its roster entry.
            code = f"o-prev-member#{uuid.uuid4().hex}"  # the stub refuses a code used twice
            login = await c.post("/auth/wechat-login", json={"code": code})
            assert login.status_code == 200, login.text
            assert login.json()["user"]["id"] == member
            again = await c.post(
                "/users",
                json={
                    "name": "王五",
                    "phone": "13700137003",
                    "community_id": community,
                    "is_party_member": False,
                },
                headers=as_admin,
            )
            assert again.json()["code"] == "phone_exists"

            # New rows are numbered after the old ones.
            created = await c.post(
                "/tasks",
                json={
                    "title": "升级后的任务",
                    "description": "",
                    "org_id": community,
                    "category": "publicity",
                    "starts_at": at(48).isoformat(),
                    "ends_at": at(50).isoformat(),
                },
                headers=as_admin,
            )
            assert created.status_code == 201, created.text
            assert created.json()["id"] > max(ids["tasks"])
    finally:
        await app.state.engine.dispose()


# --- A rebuilt table keeps its triggers ----------------------------------------------

# The tables whose rows the dashboards' kept sums count, and the trigger families on
# them (migrations d4f3b1a5c004, e5a4c2b6d005, f6b5d3c7e006, d1e5a7c9b024). A SQLite
# batch rebuild drops a table's triggers; b8d7f5e9a008 rebuilt every table with an
# integer id.
COUNTED = {
    "users": ("people_counts",),
    "report_ins": ("people_counts", "fact_counts"),
    "wish_quota_claims": ("people_counts",),
    "check_ins": ("fact_counts",),
    "volunteer_hours": ("fact_counts",),
    "wishes": ("fact_counts",),
    "problems": ("fact_counts",),
    "articles": ("fact_counts",),
    "people_counts": ("fact_counts",),
    "pairings": ("fact_counts",),
}


# The points ledger's refusals of UPDATE and DELETE (app/models/points.py).
APPEND_ONLY = {
    "sqlite": {
        ("points_entries", "points_entries_no_update"),
        ("points_entries", "points_entries_no_delete"),
    },
    "postgresql": {("points_entries", "points_entries_append_only")},
}


def expected_triggers(dialect: str) -> set[tuple[str, str]]:
    events = ("insert", "delete", "update") if dialect == "sqlite" else ("write", "update")
    return {
        (table, f"{family}_{table}_{event}")
        for table, families in COUNTED.items()
        for family in families
        for event in events
    } | APPEND_ONLY[dialect]


async def triggers(conn: AsyncConnection) -> set[tuple[str, str]]:
    if conn.dialect.name == "sqlite":
        sql = "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
    else:
        sql = "SELECT event_object_table, trigger_name FROM information_schema.triggers"
    return {(table, name) for table, name in (await conn.execute(text(sql))).all()}


async def test_every_counted_table_keeps_its_triggers_after_upgrade_head(
    empty_database: str, tmp_path: Path, wechat_stub: tuple[StubState, str]
) -> None:
    settings = make_settings(empty_database, tmp_path, wechat_stub[1])
    await asyncio.to_thread(run_migrations, empty_database, PREVIOUS_RELEASE)
    engine = create_async_engine(settings.async_database_url, poolclass=NullPool)
    async with engine.begin() as conn:
        old = await fill_previous_release(conn, PiiCipher(settings.pii_key))
    await asyncio.to_thread(run_migrations, empty_database, "head")
    async with engine.connect() as conn:
        assert await triggers(conn) == expected_triggers(conn.dialect.name)
    await engine.dispose()

    app = create_app(settings)
    try:
        # What the previous release stored is counted exactly after the rebuilds...
        await assert_counts_are_exact(app)
        # ...and every counted table's writes move the sums.
        world = await build_world(app)
        member = world.user("member")
        task = await make_task(app, world["C1"])
        await make_check_in(app, task, member)
        await make_report_in(app, member)
        await insert_wish(
            app,
            community=world["C1"],
            poster=member,
            status=WishStatus.claimed,
            claimant=world.user("district_admin"),
        )
        await insert_entry(app, user=member, org=world["C1"], status=HourStatus.approved)
        async with app.state.sessionmaker() as session, session.begin():
            moved = await session.get(User, member.id)
            assert moved is not None
            moved.community_id = world["C2"].id
            await session.execute(
                text("UPDATE problems SET status = 'closed', closed_at = :at WHERE id = :id"),
                {"at": at(30), "id": old.rows["problems"][0][0]},
            )
            await session.execute(
                text(
                    "UPDATE articles SET status = 'published', review_org_id = NULL, "
                    "published_at = :at WHERE id = :id"
                ),
                {"at": at(30), "id": old.rows["articles"][0][0]},
            )
        await assert_counts_are_exact(app)
    finally:
        await app.state.engine.dispose()
