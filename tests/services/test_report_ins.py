"""The report-in figures (app/services/report_ins.py) as the roster gives them person
by person: the kept counts and the list of those not reported."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update

from app.core.scope import org_ids_within
from app.core.timeutil import month_key
from app.edge.access import caller_for_person
from app.models.org import OrgLevel
from app.models.report_in import ReportIn
from app.models.user import User
from app.services import report_ins as report_service
from app.services.users import homes_in
from tests.factories.users import make_user


async def _reported(world, user, community, month):
    async with world.app.state.sessionmaker() as session, session.begin():
        session.add(
            ReportIn(
                user_id=user.id,
                community_id=community.id,
                month=month,
                reported_at=datetime.now(UTC),
            )
        )


async def test_the_figures_are_the_rosters_person_by_person_for_every_org(world):
    month = month_key(datetime.now(UTC))
    # The world's people are party members at home in C1 and C3; the member works at U1.
    await _reported(world, world.user("member"), world["C1"], month)
    # Living in C3 (street S2), working at U1 (street S1), reported to C2.
    away = await make_user(world.app, "甲", community=world["C3"], unit=world["U1"], party=True)
    await _reported(world, away, world["C2"], month)
    # At UD alone, reported to C3; a party member of C2 who did not; one who did last
    # month only; someone not in the party who reported.
    await _reported(
        world, await make_user(world.app, "乙", unit=world["UD"], party=True), world["C3"], month
    )
    await make_user(world.app, "丙", community=world["C2"], party=True)
    last = await make_user(world.app, "丁", community=world["C1"], unit=world["U1"], party=True)
    await _reported(world, last, world["C1"], "2000-01")
    await _reported(
        world, await make_user(world.app, "戊", community=world["C2"]), world["C2"], month
    )
    # Moved after reporting: counted at the new home, the report carried along.
    moved = await make_user(world.app, "己", community=world["C1"], party=True)
    await _reported(world, moved, world["C1"], month)
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(User).where(User.id == moved.id).values(community_id=world["C3"].id)
        )

    figured = {}
    async with world.app.state.sessionmaker() as session:
        caller = await caller_for_person(session, world.user("district_admin"))
        for key, org in world.orgs.items():
            figures = await report_service.report_in_figures(
                session, caller=caller, org=org, month=month
            )
            ids = await org_ids_within(session, [org.path])
            home = User.unit_id.in_(ids) if org.level == OrgLevel.unit else homes_in(ids)
            members = (User.is_party_member.is_(True), home)
            reported = User.id.in_(select(ReportIn.user_id).where(ReportIn.month == month))
            total, done = (
                await session.execute(
                    select(func.count(), func.count().filter(reported)).where(*members)
                )
            ).one()
            missing = (
                (
                    await session.execute(
                        select(User.id).where(*members, ~reported).order_by(User.id)
                    )
                )
                .scalars()
                .all()
            )
            assert (figures.members, figures.reported) == (total, done), key
            assert [p.user_id for p in figures.not_reported or []] == list(missing), key
            figured[key] = (figures.members, figures.reported)
    # The world's seven party members on the roster, and 甲, 乙, 丙, 丁, 己.
    assert figured["D"] == (12, 4)
    # C1's and C2's, and 甲 by their unit alone; 己 has moved out, their report with them.
    assert figured["S1"] == (9, 2)
    assert figured["S2"] == (3, 2) and figured["U1"] == (3, 2) and figured["UD"] == (1, 1)
