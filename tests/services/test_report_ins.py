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


async def test_the_years_figures_are_the_rosters_person_by_person(world, monkeypatch):
    # The last day of March in UTC is already April in Beijing: four months so far.
    now = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)
    member = world.user("member")
    for month in ("2026-01", "2026-02", "2026-04", "2025-12", "2025-11"):
        await _reported(world, member, world["C1"], month)
    # Living in C3 (street S2), working at U1 (street S1): every month so far, to C2.
    steady = await make_user(world.app, "甲", community=world["C3"], unit=world["U1"], party=True)
    for month in ("2026-01", "2026-02", "2026-03", "2026-04", "2025-03"):
        await _reported(world, steady, world["C2"], month)
    # At UD alone; a party member of C2 with no report-in; someone not in the party.
    await _reported(
        world,
        await make_user(world.app, "乙", unit=world["UD"], party=True),
        world["C3"],
        "2026-03",
    )
    await make_user(world.app, "丙", community=world["C2"], party=True)
    await _reported(
        world, await make_user(world.app, "戊", community=world["C2"]), world["C2"], "2026-02"
    )
    # Moved after reporting: counted at the new home, the reports carried along.
    moved = await make_user(world.app, "己", community=world["C1"], unit=world["U1"], party=True)
    for month in ("2026-01", "2026-03", "2025-06"):
        await _reported(world, moved, world["C1"], month)
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(User).where(User.id == moved.id).values(community_id=world["C3"].id)
        )

    async def counted(session, org, year):
        """The figures as the roster gives them, person by person."""
        months = report_service.months_of(year, now)
        ids = await org_ids_within(session, [org.path])
        home = User.unit_id.in_(ids) if org.level == OrgLevel.unit else homes_in(ids)
        people = (
            await session.execute(
                select(User).where(User.is_party_member.is_(True), home).order_by(User.id)
            )
        ).scalars()
        by_month = {m: 0 for m in months}
        owing = []
        for person in people:
            seen = set(
                (
                    await session.execute(
                        select(ReportIn.month).where(
                            ReportIn.user_id == person.id, ReportIn.month.in_(months)
                        )
                    )
                ).scalars()
            )
            for m in seen:
                by_month[m] += 1
            if len(seen) < len(months):
                owing.append(
                    (
                        -(len(months) - len(seen)),
                        person.id,
                        person.name,
                        person.phone_masked,
                        person.community_id,
                        len(seen),
                        [m for m in months if m not in seen],
                    )
                )
        owing.sort(key=lambda p: (p[0], p[1]))
        return by_month, owing

    checked = {}
    async with world.app.state.sessionmaker() as session:
        caller = await caller_for_person(session, world.user("district_admin"))
        for key in ("D", "S1", "C1", "U1"):
            for year in (2026, 2025):
                figures = await report_service.report_in_year_figures(
                    session, caller=caller, org=world[key], year=year, now=now
                )
                by_month, owing = await counted(session, world[key], year)
                total = figures.members
                assert [(m.month, m.reported) for m in figures.months] == list(by_month.items()), (
                    key,
                    year,
                )
                slots = total * len(by_month)
                assert figures.rate == (round(sum(by_month.values()) / slots, 4) if slots else None)
                got = [
                    (
                        -len(p.months_missed),
                        p.user_id,
                        p.name,
                        p.phone_masked,
                        p.community_id,
                        p.months_reported,
                        p.months_missed,
                    )
                    for p in figures.not_reported or []
                ]
                assert got == owing, (key, year)
                checked[key, year] = (total, [m.reported for m in figures.months], len(got))
        # The list stops at its limit, the most months missed kept.
        monkeypatch.setattr(report_service, "NOT_REPORTED_SHOWN", 2)
        cut = await report_service.report_in_year_figures(
            session, caller=caller, org=world["D"], year=2026, now=now
        )
        _, owing = await counted(session, world["D"], 2026)
        assert [p.user_id for p in cut.not_reported or []] == [p[1] for p in owing[:2]]
    # The world's seven party members on the roster, and 甲, 乙, 丙, 己; only 甲 never
    # missed a month of 2026 so far; in 2025 甲 and 己 reported once each.
    assert checked["D", 2026] == (11, [3, 2, 3, 2], 10)
    assert checked["D", 2025][:2] == (11, [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1])
    # C1's and C2's people, and 甲 and 己 by U1 (己 moved to C3, still at U1); C1 without 己.
    assert checked["S1", 2026] == (9, [3, 2, 2, 2], 8)
    assert checked["C1", 2026][:2] == (5, [1, 1, 0, 1])
    assert checked["U1", 2026] == (3, [3, 2, 2, 2], 2)
