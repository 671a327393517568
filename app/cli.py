"""Operator commands: `python -m app.cli bootstrap|seed-demo|openapi|backfill-video-durations`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker, utcnow
from app.core.security import PiiCipher
from app.core.storage import Storage, create_storage
from app.devtools.demo_activity import seed_activity
from app.devtools.demo_assessment import seed_assessment
from app.models.org import Org, OrgLevel
from app.models.user import Role, RoleGrant, User
from app.services import video_durations
from app.services.orgs import insert_org
from app.services.users import set_phone

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


async def bootstrap(
    session: AsyncSession, *, district_name: str, admin_name: str, admin_openid: str
) -> dict[str, int]:
    """The first district and its first admin. Running it again changes nothing."""
    district = (
        await session.execute(
            select(Org).where(Org.level == OrgLevel.district, Org.name == district_name)
        )
    ).scalar_one_or_none()
    if district is None:
        district = await insert_org(
            session, name=district_name, level=OrgLevel.district, parent=None
        )
    user = (
        await session.execute(select(User).where(User.openid == admin_openid))
    ).scalar_one_or_none()
    if user is None:
        user = User(name=admin_name, openid=admin_openid)
        session.add(user)
        await session.flush()
    grant = (
        await session.execute(
            select(RoleGrant).where(
                RoleGrant.user_id == user.id,
                RoleGrant.org_id == district.id,
                RoleGrant.role == Role.district_admin,
            )
        )
    ).scalar_one_or_none()
    if grant is None:
        session.add(
            RoleGrant(user_id=user.id or 0, org_id=district.id or 0, role=Role.district_admin)
        )
        await session.flush()
    assert district.id is not None and user.id is not None
    return {"district_id": district.id, "user_id": user.id}


# Demo: one district with three streets, named like a real one, and people whose
# WeChat stub codes are their openids (see README "Trying the demo").
DEMO_STREETS = {
    "东关街道": ["东关社区", "仓门社区", "广场社区"],
    "西湖街道": ["西湖社区", "枫林社区", "柳园社区"],
    "南苑街道": ["南苑社区", "锦绣社区"],
}
DEMO_UNITS = {None: ["区委宣传部", "区市场监管局"], "东关街道": ["东关小学"]}
DEMO_PEOPLE: list[tuple[str, str, str, str | None, str | None, bool, list[tuple[Role, str]]]] = [
    # name, phone, community, unit, openid, party member, roles (role, org name)
    (
        "王建国",
        "13800138001",
        "东关社区",
        "区委宣传部",
        "demo-district-admin",
        True,
        [(Role.district_admin, "文明区")],
    ),
    (
        "李秀英",
        "13800138002",
        "仓门社区",
        None,
        "demo-street-admin",
        True,
        [(Role.street_admin, "东关街道")],
    ),
    (
        "张丽",
        "13800138003",
        "东关社区",
        None,
        "demo-community-admin",
        True,
        [(Role.community_admin, "东关社区")],
    ),
    ("刘洋", "13800138004", "东关社区", "区市场监管局", "demo-member", True, []),
    (
        "陈静",
        "13800138005",
        "西湖社区",
        None,
        "demo-inspector",
        False,
        [(Role.inspector, "文明区")],
    ),
    ("赵磊", "13800138006", "广场社区", "东关小学", None, True, []),
    # 东关小学's party secretary, living in another street than the school.
    (
        "孙红",
        "13800138007",
        "西湖社区",
        "东关小学",
        "demo-unit-admin",
        True,
        [(Role.unit_admin, "东关小学")],
    ),
]
DEMO_SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张"
DEMO_GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
]


async def seed_demo(
    session: AsyncSession, cipher: PiiCipher, storage: Storage | None = None
) -> dict[str, Any]:
    """The demo district, once. With `storage`, also the records that need photos
    (inspection visits, a resident's report), their files written there."""
    if (await session.execute(select(func.count()).select_from(Org))).scalar_one():
        return {"seeded": False, "reason": "database is not empty"}
    district = await insert_org(session, name="文明区", level=OrgLevel.district, parent=None)
    orgs: dict[str, Org] = {"文明区": district}
    for street_name, communities in DEMO_STREETS.items():
        street = await insert_org(session, name=street_name, level=OrgLevel.street, parent=district)
        orgs[street_name] = street
        for name in communities:
            orgs[name] = await insert_org(
                session, name=name, level=OrgLevel.community, parent=street
            )
    for parent_name, units in DEMO_UNITS.items():
        parent = orgs[parent_name] if parent_name else district
        for name in units:
            orgs[name] = await insert_org(session, name=name, level=OrgLevel.unit, parent=parent)

    people: list[User] = []
    for name, phone, community, unit, openid, party, roles in DEMO_PEOPLE:
        user = User(
            name=name,
            community_id=orgs[community].id,
            unit_id=orgs[unit].id if unit else None,
            is_party_member=party,
            openid=openid,
        )
        set_phone(user, cipher, phone)
        session.add(user)
        await session.flush()
        for role, org_name in roles:
            session.add(RoleGrant(user_id=user.id or 0, role=role, org_id=orgs[org_name].id or 0))
        people.append(user)
    homes = [o for o in orgs.values() if o.level == OrgLevel.community]
    unit_orgs = [o for o in orgs.values() if o.level == OrgLevel.unit]
    for i in range(40):
        user = User(
            name=DEMO_SURNAMES[i % len(DEMO_SURNAMES)] + DEMO_GIVEN[(i * 7) % len(DEMO_GIVEN)],
            community_id=homes[i % len(homes)].id,
            # Some work at the units: their secretaries follow them wherever they live.
            unit_id=unit_orgs[i % len(unit_orgs)].id if i % 4 == 0 else None,
            is_party_member=i % 3 != 0,
        )
        set_phone(user, cipher, f"139{i:08d}")
        session.add(user)
        people.append(user)
    await session.flush()
    activity = await seed_activity(
        session, cipher=cipher, orgs=orgs, people=people, now=utcnow(), storage=storage
    )
    assessment = await seed_assessment(
        session, orgs=orgs, people=people, now=utcnow(), storage=storage
    )
    return {
        "seeded": True,
        "district_id": district.id,
        "orgs": len(orgs),
        "people": len(people),
        **activity,
        **assessment,
    }


def write_openapi(path: Path = OPENAPI_PATH) -> None:
    from app.main import create_app

    spec = create_app(Settings(app_env="test")).openapi()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


async def _in_transaction(settings: Settings, fn: Any) -> Any:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await fn(session)
    finally:
        await engine.dispose()


async def _backfill_video_durations(settings: Settings, batch: int) -> dict[str, int]:
    engine = create_engine(settings)
    try:
        return await video_durations.backfill_video_durations(
            create_sessionmaker(engine), create_storage(settings), batch=max(batch, 1)
        )
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    boot = sub.add_parser("bootstrap", help="create a district and its first district admin")
    boot.add_argument("--district-name", required=True)
    boot.add_argument("--admin-name", required=True)
    boot.add_argument("--admin-openid", required=True)
    sub.add_parser("seed-demo", help="fill an empty database with a demo district")
    openapi = sub.add_parser("openapi", help="write openapi/openapi.json from the app")
    openapi.add_argument("--output", type=Path, default=OPENAPI_PATH)
    durations = sub.add_parser(
        "backfill-video-durations",
        help="measure stored videos whose media.duration_s is empty (stored before it existed)",
    )
    durations.add_argument("--batch", type=int, default=video_durations.BATCH)
    args = parser.parse_args(argv)

    settings = get_settings()
    if args.command == "bootstrap":
        result = asyncio.run(
            _in_transaction(
                settings,
                lambda s: bootstrap(
                    s,
                    district_name=args.district_name.strip(),
                    admin_name=args.admin_name.strip(),
                    admin_openid=args.admin_openid.strip(),
                ),
            )
        )
    elif args.command == "seed-demo":
        cipher = PiiCipher(settings.pii_key)
        storage = create_storage(settings)
        result = asyncio.run(_in_transaction(settings, lambda s: seed_demo(s, cipher, storage)))
    elif args.command == "backfill-video-durations":
        result = asyncio.run(_backfill_video_durations(settings, args.batch))
    else:
        write_openapi(args.output)
        result = {"written": str(args.output)}
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
