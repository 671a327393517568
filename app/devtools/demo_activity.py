"""What the demo district has been doing lately, so that `make run` shows dashboards,
rankings and ledgers with something in them: tasks with check-ins and credited
hours, this month's report-ins, hand-logged hours awaiting review, micro-wishes
open, awaiting review and claimed, articles of each importance (one urgent, in
review; two in the district's column, published and placed outside), the district's
inspection checklists, inspection points and first supervision team, volunteers of
东关社区 with their 红小帽 team, the menu and service orders in several states.

Everything goes through the services, with the time given where a service takes
one, exactly as the requests would have: every count the database keeps for the
dashboards (people_counts, fact_counts, the wish quota) is the one the app itself
keeps. No WeChat content check (there is no WeChat here: the checker is None, as
when content checks are switched off). Photos are left out: the records that
require them (problems, fulfilled wishes, inspection visits, residents' reports) are
not made.
"""

from __future__ import annotations

import io
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import anyio.to_thread
import av
from PIL import Image, ImageDraw
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.scope import Caller
from app.core.security import PiiCipher
from app.core.storage import Storage
from app.edge.access import caller_for_person
from app.models.article import Article, ArticleCreate, ArticleImportance, ArticleReview
from app.models.inspection import ChecklistPut, InspectionCreate, ResultInput, TeamCreate
from app.models.media import MediaCheckStatus
from app.models.org import Org, OrgUpdate
from app.models.pairing import LiaisonCreate, PairingCreate
from app.models.points import AwardCreate, RedemptionCreate, RulesPut, ShopItemCreate
from app.models.problem import LocationInput, PointCreate, PointKind, ProblemCategory
from app.models.publicity import ColumnCreate, PlacementCreate, PlacementLevel, PlacementVerify
from app.models.report import ReportCreate
from app.models.report_in import (
    ReportInCreate,
)
from app.models.service_order import (
    OrderComplete,
    OrderCreate,
    OrderDispatch,
    OrderRate,
    OrderStatus,
    ServiceItemCreate,
)
from app.models.task import (
    AttendanceInput,
    Task,
    TaskCategory,
    TaskCreate,
    TaskLocationInput,
)
from app.models.team import MemberReview
from app.models.team import TeamCreate as VolunteerTeamCreate
from app.models.user import User
from app.models.volunteer import VolunteerOptIn
from app.models.volunteer_hours import VolunteerHourCreate, VolunteerHourReview
from app.models.wish import WishCreate
from app.services import (
    articles,
    inspection_teams,
    inspections,
    liaisons,
    media,
    pairings,
    points,
    problems,
    publicity,
    report_ins,
    reports,
    service_orders,
    shop,
    tasks,
    teams,
    volunteer_hours,
    volunteers,
    wishes,
)
from app.services import orgs as org_service

# The demo district's square, and a point about 80 m from it.
PLACE = (34.2610, 108.9423)
NEARBY = AttendanceInput(lat=34.2617, lng=108.9423)


async def seed_activity(
    session: AsyncSession,
    *,
    cipher: PiiCipher,
    orgs: dict[str, Org],
    people: list[User],
    now: datetime,
    storage: Storage | None = None,
) -> dict[str, int]:
    by_openid = {u.openid: u for u in people if u.openid}

    async def caller(user: User) -> Caller:
        return await caller_for_person(session, user)

    def living_in(*communities: str) -> list[User]:
        ids = {orgs[c].id for c in communities}
        return [u for u in people if u.community_id in ids]

    district_admin = await caller(by_openid["demo-district-admin"])
    community_admin = await caller(by_openid["demo-community-admin"])
    member = await caller(by_openid["demo-member"])
    counts = {"tasks": 0, "check_ins": 0, "report_ins": 0, "hour_entries": 0, "wishes": 0}

    # The district's points rules first: what follows earns by them.
    await points.put_rules(
        session,
        caller=district_admin,
        data=RulesPut(
            per_volunteer_hour=10, per_confirmed_wish=20, per_completed_order=15, per_report_in=5
        ),
    )

    async def task(
        org: str, title: str, category: TaskCategory, start: datetime, hours: int
    ) -> Task:
        counts["tasks"] += 1
        return await tasks.create_task(
            session,
            caller=district_admin,
            data=TaskCreate(
                title=title,
                description=f"{title}：请准时到场，佩戴志愿者红马甲。",
                org_id=orgs[org].id or 0,
                category=category,
                starts_at=start,
                ends_at=start + timedelta(hours=hours),
                location=TaskLocationInput(lat=PLACE[0], lng=PLACE[1], radius_m=300),
                capacity=30,
            ),
        )

    # Two days ago, in 东关社区: everyone who came stayed two hours.
    cleanup = await task(
        "东关社区",
        "背街小巷大扫除",
        TaskCategory.sanitation,
        now - timedelta(days=2, hours=3),
        3,
    )
    for i, person in enumerate(living_in("东关社区")[:8]):
        who = await caller(person)
        arrived = cleanup.starts_at + timedelta(minutes=5 + i)
        await tasks.check_in(session, caller=who, task=cleanup, data=NEARBY, now=arrived)
        left = arrived + timedelta(hours=2)
        await tasks.check_out(session, caller=who, task=cleanup, data=NEARBY, now=left)
        counts["check_ins"] += 1
    # Going on now, for the whole of 东关街道: some are there already.
    guiding = await task(
        "东关街道", "文明交通劝导", TaskCategory.traffic, now - timedelta(hours=1), 3
    )
    for i, person in enumerate(living_in("东关社区", "仓门社区", "广场社区")[:6]):
        arrived = guiding.starts_at + timedelta(minutes=10 + 3 * i)
        await tasks.check_in(
            session, caller=await caller(person), task=guiding, data=NEARBY, now=arrived
        )
        counts["check_ins"] += 1
    # Tomorrow, for the whole district.
    await task(
        "文明区", "文明创建志愿宣讲", TaskCategory.other, now + timedelta(days=1, hours=1), 2
    )

    # This month's report-ins: two party members in three.
    party = [u for u in people if u.is_party_member and u.community_id]
    for i, person in enumerate(party):
        if i % 3 != 2:
            await report_ins.report_in(
                session, caller=await caller(person), data=ReportInCreate(), now=now
            )
            counts["report_ins"] += 1

    # Hours logged by hand yesterday, waiting for the community to review them.
    for person in living_in("仓门社区", "西湖社区")[:3]:
        assert person.community_id is not None
        start = now - timedelta(days=1, hours=5)
        await volunteer_hours.log_entry(
            session,
            caller=await caller(person),
            data=VolunteerHourCreate(
                org_id=person.community_id,
                activity="社区文明劝导、清理小广告",
                started_at=start,
                ended_at=start + timedelta(hours=2),
            ),
        )
        counts["hour_entries"] += 1

    # An entry of 东关社区 approved and then revoked (a duplicate): its history has
    # both steps, its minutes and points are gone (POST /volunteer-hours/{id}/revoke).
    for person in [u for u in living_in("东关社区") if u.id != community_admin.id][:1]:
        assert person.community_id is not None
        start = now - timedelta(days=2, hours=5)
        logged = await volunteer_hours.log_entry(
            session,
            caller=await caller(person),
            data=VolunteerHourCreate(
                org_id=person.community_id,
                activity="社区文明劝导（重复登记）",
                started_at=start,
                ended_at=start + timedelta(hours=1),
            ),
        )
        await volunteer_hours.review_entry(
            session,
            caller=community_admin,
            entry=logged,
            data=VolunteerHourReview(approve=True),
        )
        await volunteer_hours.revoke_entry(
            session, caller=community_admin, entry=logged, reason="与前一天的登记重复"
        )
        counts["hour_entries"] += 1

    # Micro-wishes of 东关社区: the secretary's are open at once, a member's waits for
    # review; the demo member has claimed one.
    dongguan = orgs["东关社区"].id or 0
    posted = []
    for title, name, text in (
        ("帮独居老人更换灯泡", "刘奶奶", "厨房和卫生间的灯坏了，老人腿脚不便，希望上门帮忙。"),
        ("辅导留守儿童功课", "小明", "四年级学生，父母在外务工，希望每周有人辅导两次数学作业。"),
        ("陪伴老人去医院复查", "陈爷爷", "下周三上午需去区医院复查，希望有人陪同挂号取药。"),
    ):
        posted.append(
            await wishes.create_wish(
                session,
                caller=community_admin,
                cipher=cipher,
                data=WishCreate(
                    title=title,
                    description=text,
                    community_id=dongguan,
                    beneficiary_name=name,
                    deadline=(now + timedelta(days=20)).date(),
                ),
                checker=None,
            )
        )
    await wishes.create_wish(
        session,
        caller=member,
        cipher=cipher,
        data=WishCreate(
            title="楼道堆物清理",
            description="3 号楼楼道堆放杂物较多，希望组织志愿者一起清理。",
            community_id=dongguan,
            beneficiary_name="3 号楼居民",
        ),
        checker=None,
    )
    counts["wishes"] = len(posted) + 1
    await wishes.claim_wish(session, caller=member, wish=posted[0], max_open_claims=3)

    # Publicity: the district's column (专栏), an urgent important article of 东关社区
    # waiting at the street, a routine one the street published and a major one the
    # district published, both in the column, placed outside: one placement verified
    # by the district office, one awaiting it.
    street_office = await caller(by_openid["demo-street-admin"])
    column = await publicity.create_column(
        session,
        caller=district_admin,
        data=ColumnCreate(org_id=orgs["文明区"].id or 0, name="文明实践在身边"),
    )

    async def article(title: str, body: str, importance: ArticleImportance, **kw: Any) -> Article:
        made = await articles.create_article(
            session,
            caller=community_admin,
            data=ArticleCreate(
                title=title, body=body, org_id=dongguan, importance=importance, **kw
            ),
        )
        return await articles.submit_article(
            session, caller=community_admin, article=made, checker=None
        )

    await article(
        "东关社区开展背街小巷大扫除",
        "本周六上午，东关社区组织党员志愿者清理背街小巷卫生死角，共清运垃圾两车。",
        ArticleImportance.important,
        urgent=True,
    )
    approve = ArticleReview(approve=True)
    # The routine article carries a short video (a few seconds made here, stored as an
    # upload stores it) where the demo keeps files.
    clip = (
        [await _demo_video(session, storage, owner=community_admin.user)]
        if storage is not None
        else None
    )
    routine = await article(
        "东关社区“文明楼道”评选揭晓",
        "经居民投票，东关社区评出十个“文明楼道”，楼道整洁、邻里和睦。",
        ArticleImportance.routine,
        column_id=column.id,
        photo_ids=clip,
    )
    await articles.review_article(session, caller=street_office, article=routine, data=approve)
    major = await article(
        "文明区召开创文攻坚推进会，东关社区作典型发言",
        "会上，东关社区介绍了党员到社区报到、微心愿认领等经验做法。",
        ArticleImportance.major,
        column_id=column.id,
    )
    for reviewer in (street_office, district_admin):
        await articles.review_article(session, caller=reviewer, article=major, data=approve)
    today = now.date()
    placed = await publicity.record_placement(
        session,
        caller=community_admin,
        article=routine,
        data=PlacementCreate(outlet="文明市日报", level=PlacementLevel.city, published_on=today),
    )
    await publicity.verify_placement(
        session, caller=district_admin, placement=placed, data=PlacementVerify(approve=True)
    )
    await publicity.record_placement(
        session,
        caller=community_admin,
        article=major,
        data=PlacementCreate(
            outlet="学习强国省级平台", level=PlacementLevel.provincial, published_on=today
        ),
    )
    counts["articles"] = 3
    counts["placements"] = 2

    # Pairings (结对共建) of the units with communities, a joint task, and a liaison.
    year_start = now.date().replace(month=1, day=1)
    made = []
    for unit, community, commitments in (
        ("东关小学", "东关社区", ["每月组织一次党员志愿服务", "结对帮扶留守儿童"]),
        ("区委宣传部", "西湖社区", ["共建新时代文明实践站", "每季度一次理论宣讲"]),
        ("区市场监管局", "仓门社区", ["食品安全进社区", "认领微心愿"]),
    ):
        made.append(
            await pairings.create_pairing(
                session,
                caller=district_admin,
                data=PairingCreate(
                    unit_id=orgs[unit].id or 0,
                    community_id=orgs[community].id or 0,
                    starts_on=year_start,
                    commitments=commitments,
                ),
            )
        )
    counts["pairings"] = len(made)
    start = now + timedelta(days=3, hours=1)
    await tasks.create_task(
        session,
        caller=district_admin,
        data=TaskCreate(
            title="结对共建：关爱留守儿童",
            description="东关小学党员与东关社区一起为留守儿童辅导功课。",
            org_id=dongguan,
            category=TaskCategory.care,
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            pairing_id=made[0].id,
        ),
    )
    counts["tasks"] += 1
    await liaisons.create_liaison(
        session,
        caller=district_admin,
        data=LiaisonCreate(
            user_id=by_openid["demo-district-admin"].id or 0,
            org_id=orgs["东关街道"].id or 0,
            starts_on=year_start,
        ),
    )
    # A unit in liaison too: its members' visits count for it.
    await liaisons.create_liaison(
        session,
        caller=district_admin,
        data=LiaisonCreate(
            unit_id=orgs["区委宣传部"].id or 0,
            org_id=orgs["西湖社区"].id or 0,
            starts_on=year_start,
        ),
    )
    counts["liaisons"] = 2

    # The district's checklists (测评细则) for its commonest points, and points to visit.
    items_of: dict[PointKind, list[str]] = {}
    for kind, items in (
        (
            PointKind.market,
            ["地面干净无积水", "摊位整齐不占道", "公益广告张贴到位", "垃圾分类收集"],
        ),
        (PointKind.back_street, ["路面无垃圾杂物", "无乱贴乱画", "无乱停乱放"]),
        (PointKind.compound, ["楼道无堆物", "垃圾分类投放", "公益宣传栏内容更新"]),
    ):
        await inspections.put_checklist(
            session, caller=district_admin, kind=kind, data=ChecklistPut(items=items), now=now
        )
        items_of[kind] = items
    spots = []
    for name, kind, lat_offset in (
        ("东关农贸市场", PointKind.market, 0.0),
        ("东关背街", PointKind.back_street, 0.002),
    ):
        point = await problems.create_point(
            session,
            caller=district_admin,
            data=PointCreate(
                name=name,
                kind=kind,
                org_id=dongguan,
                location=LocationInput(lat=PLACE[0] + lat_offset, lng=PLACE[1]),
            ),
        )
        spots.append((point, kind, items_of[kind]))
    counts["checklists"], counts["points"] = 3, 2

    # The district's first supervision team (督导组): its inspector and street secretary.
    inspector = by_openid["demo-inspector"]
    street_admin = by_openid["demo-street-admin"]
    assert inspector.id is not None and street_admin.id is not None
    team = await inspection_teams.create_team(
        session,
        caller=district_admin,
        data=TeamCreate(
            name="区第一督导组",
            org_id=district_admin.grants[0].org_id,
            leader_user_id=inspector.id,
            member_ids=[inspector.id, street_admin.id],
        ),
    )
    counts["inspection_teams"] = 1

    # Visits and a resident's report need photos: written where the app keeps them.
    if storage is not None:
        inspector_caller = await caller(inspector)
        for (point, _, items), failed, seed in zip(spots, (1, None), (11, 12), strict=True):
            photo = await _demo_photo(session, storage, owner=inspector, seed=seed)
            await inspections.record_visit(
                session,
                caller=inspector_caller,
                data=InspectionCreate(
                    point_id=point.id or 0,
                    lat=point.lat,
                    lng=point.lng,
                    results=[
                        ResultInput(item=item, passed=i != failed) for i, item in enumerate(items)
                    ],
                    photo_ids=[photo],
                    note="例行巡查",
                    team_id=team.id,
                ),
                now=now - timedelta(days=1),
            )
        counts["inspections"] = 2
        resident = by_openid["demo-member"]
        photo = await _demo_photo(session, storage, owner=resident, seed=13)
        await reports.create_report(
            session,
            caller=member,
            data=ReportCreate(
                category=ProblemCategory.illegal_parking,
                description="小区门口电动车乱停，挡住了人行道。",
                lat=PLACE[0] + 0.0005,
                lng=PLACE[1],
                photo_ids=[photo],
            ),
            checker=None,
            now=now,
        )
        counts["reports"] = 1
    counts.update(
        await _seed_volunteers(
            session,
            cipher=cipher,
            orgs=orgs,
            admin=district_admin,
            orderer=member,
            residents=living_in("东关社区"),
            caller=caller,
            storage=storage,
            now=now,
        )
    )
    # 东关社区's shop (积分超市), stocked by its paired school; the demo member, given
    # an award, has reserved a bag of rice for the secretary to hand over.
    rice = None
    for name, price, stock in (("大米 5 斤", 30, 10), ("洗衣液", 20, 6), ("毛巾", 10, 0)):
        item = await shop.create_item(
            session,
            caller=community_admin,
            data=ShopItemCreate(
                community_id=dongguan,
                name=name,
                points=price,
                stock=stock,
                donor_org_id=orgs["东关小学"].id,
            ),
        )
        rice = rice or item
    assert rice is not None and rice.id is not None
    await points.award(
        session,
        caller=community_admin,
        data=AwardCreate(user_id=member.id, points=40, reason="楼道堆物清理带头人"),
        cap=50,
    )
    await shop.redeem(
        session, caller=member, data=RedemptionCreate(item_id=rice.id), reservation_days=7
    )
    counts["shop_items"], counts["redemptions"] = 3, 1
    await session.flush()
    return counts


async def _seed_volunteers(
    session: AsyncSession,
    *,
    cipher: PiiCipher,
    orgs: dict[str, Org],
    admin: Caller,
    orderer: Caller,
    residents: list[User],
    caller: Callable[[User], Awaitable[Caller]],
    storage: Storage | None,
    now: datetime,
) -> dict[str, int]:
    """Volunteers of 东关社区 (roster people who opted in), the 红小帽 team, the menu
    and orders in several states, and the populations the per-1,000 figure needs."""
    for name, population in (("东关社区", 4200), ("东关街道", 38000), ("文明区", 520000)):
        await org_service.update_org(
            session, caller=admin, org=orgs[name], data=OrgUpdate(population=population)
        )
    leader = residents[0]
    crew = [await caller(p) for p in residents[:4]]
    for person in crew:
        await volunteers.opt_in(
            session, caller=person, data=VolunteerOptIn(consent=True, skills=["助老", "理发"])
        )
    assert leader.id is not None
    team = await teams.create_team(
        session,
        caller=admin,
        data=VolunteerTeamCreate(
            name="红小帽",
            org_id=orgs["东关社区"].id or 0,
            leader_user_id=leader.id,
            service_types=["助老", "理发", "维修"],
            description="东关社区的红小帽志愿服务队，上门为老人理发、修家电。",
        ),
    )
    for person in crew[1:]:
        await teams.join(session, caller=person, team=team)
        await teams.review_member(
            session, caller=crew[0], team=team, user_id=person.id, data=MemberReview(approve=True)
        )
    street = orgs["东关街道"]
    item = await service_orders.create_item(
        session,
        caller=admin,
        org=street,
        data=ServiceItemCreate(
            org_id=street.id or 0, title="上门理发", service_type="理发", team_id=team.id
        ),
    )
    plans = [
        ("帮忙修理漏水的水龙头", OrderStatus.submitted),
        ("陪老人去医院复诊", OrderStatus.accepted),
        ("上门理发", OrderStatus.dispatched),
        ("帮忙搬运旧家具", OrderStatus.taken),
        ("上门理发（二）", OrderStatus.rated),
    ]
    for title, goal in plans:
        if goal == OrderStatus.rated and storage is None:
            continue  # completion needs a photo
        order = await service_orders.create_order(
            session,
            caller=orderer,
            cipher=cipher,
            data=OrderCreate(
                item_id=item.id if "理发" in title else None,
                title=title,
                description=f"{title}，谢谢志愿者。",
                community_id=orgs["东关社区"].id or 0,
                address="东关社区幸福里3栋2单元501",
                wanted_at=now + timedelta(days=3),
            ),
        )
        steps = list(OrderStatus).index(goal)
        if steps >= 1:
            await service_orders.accept(session, caller=admin, order=order)
        if steps >= 2:
            await service_orders.dispatch(
                session, caller=admin, order=order, data=OrderDispatch(team_id=team.id or 0)
            )
        if steps >= 3:
            await service_orders.take(session, caller=crew[1], order=order)
        if steps >= 4 and storage is not None:
            photo = await _demo_photo(session, storage, owner=crew[1].user, seed=21)
            await service_orders.complete(
                session,
                caller=crew[1],
                order=order,
                data=OrderComplete(photo_ids=[photo], note="已上门理发", minutes=40),
            )
            await service_orders.rate(
                session, caller=orderer, order=order, data=OrderRate(stars=5, comment="很满意")
            )
    return {"volunteers": len(crew), "teams": 1, "service_orders": len(plans)}


def _demo_jpeg(seed: int) -> bytes:
    """A photo-like picture of its own (blocks of colour placed by `seed`), so that no
    two demo photos look alike to the reused-photo check."""
    rng = random.Random(seed)  # noqa: S311 (a picture, not a secret)
    image = Image.new("RGB", (800, 600), (rng.randrange(256), 180, 200))
    draw = ImageDraw.Draw(image)
    for _ in range(24):
        x, y = rng.randrange(800), rng.randrange(600)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(40, 300), y + rng.randrange(40, 200)), fill=colour)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _demo_mp4(seconds: int = 2, fps: int = 10) -> bytes:
    """A short H.264 MP4 of its own: a square crossing a coloured field, made with
    PyAV (the app's video library), so the repository keeps no binary."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(seconds * fps):
            image = Image.new("RGB", (320, 240), (200, 40, 40))
            ImageDraw.Draw(image).rectangle((i * 10, 90, i * 10 + 60, 150), fill=(255, 220, 0))
            container.mux(stream.encode(av.VideoFrame.from_image(image)))
        container.mux(stream.encode())
    return out.getvalue()


async def _demo_video(session: AsyncSession, storage: Storage, *, owner: User) -> int:
    """A demo video stored as an upload stores it (remuxed, its poster the thumbnail),
    taken as passed by WeChat's check."""
    raw = await anyio.to_thread.run_sync(_demo_mp4)
    stored = await media.store_video(
        storage, uploader_id=owner.id or 0, src=io.BytesIO(raw), max_seconds=60, thumbnail_px=400
    )
    stored.check_status = MediaCheckStatus.passed
    session.add(stored)
    await session.flush()
    return stored.id or 0


async def _demo_photo(session: AsyncSession, storage: Storage, *, owner: User, seed: int) -> int:
    """A demo photo stored as an upload stores it, taken as passed by WeChat's check
    (the demo has no WeChat to ask)."""
    raw = await anyio.to_thread.run_sync(_demo_jpeg, seed)
    image = await anyio.to_thread.run_sync(
        partial(media.process_image, raw, max_pixels=40_000_000, thumbnail_px=400)
    )
    stored = await media.store_photo(storage, uploader_id=owner.id or 0, image=image)
    stored.check_status = MediaCheckStatus.passed
    session.add(stored)
    await session.flush()
    return stored.id or 0
