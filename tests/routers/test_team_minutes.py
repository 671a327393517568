"""A team's minutes are the approved hour entries credited for its completed orders: an
entry revoked after approval leaves the team's record, the dashboard and the
service-orders ledger together."""

import pytest
from sqlalchemy import select

from app.models.service_order import OrderStatus
from app.models.volunteer_hours import HourSource, VolunteerHour
from tests.factories.media import make_media
from tests.factories.service_orders import insert_order
from tests.factories.teams import insert_team
from tests.factories.users import auth, make_user
from tests.routers.test_exports import body, export, read

pytestmark = pytest.mark.usefixtures("counts_stay_exact")


async def completed(client, world, *, team, taker, minutes: int) -> int:
    order = await insert_order(
        world.app,
        community=world["C1"],
        orderer=world.user("member"),
        status=OrderStatus.taken,
        team=team,
        taker=taker,
    )
    photo = (await make_media(world.app, taker)).id
    resp = await client.post(
        f"/service-orders/{order.id}/complete",
        json={"photo_ids": [photo], "minutes": minutes},
        headers=auth(world.app, taker),
    )
    assert resp.status_code == 200, resp.text
    assert order.id is not None
    return order.id


async def test_a_revoked_order_entry_leaves_the_team_minutes_but_not_its_orders(client, world):
    taker = await make_user(world.app, "志愿者甲", community=world["C1"])
    team = await insert_team(world.app, org=world["C1"], leader=taker)
    kept = await completed(client, world, team=team, taker=taker, minutes=60)
    revoked = await completed(client, world, team=team, taker=taker, minutes=45)
    admin = world.headers("community_admin")
    record = (await client.get(f"/teams/{team.id}", headers=admin)).json()
    assert (record["minutes"], record["orders_completed"]) == (105, 2)
    c1 = f"/dashboard?org_id={world['C1'].id}"
    before = (await client.get(c1, headers=admin)).json()
    assert (before["approved_volunteer_minutes"], before["service_order_minutes"]) == (105, 105)

    async with world.app.state.sessionmaker() as s:
        entry = (
            await s.execute(
                select(VolunteerHour).where(
                    VolunteerHour.source == HourSource.service_order,
                    VolunteerHour.source_id == revoked,
                )
            )
        ).scalar_one()
    resp = await client.post(
        f"/volunteer-hours/{entry.id}/revoke", json={"reason": "重复登记"}, headers=admin
    )
    assert resp.status_code == 200, resp.text

    record = (await client.get(f"/teams/{team.id}", headers=admin)).json()
    assert (record["minutes"], record["orders_completed"]) == (60, 2)
    listed = (await client.get(f"/teams?org_id={world['C1'].id}", headers=admin)).json()
    assert [t["minutes"] for t in listed["items"]] == [60]
    after = (await client.get(c1, headers=admin)).json()
    assert (after["approved_volunteer_minutes"], after["service_order_minutes"]) == (60, 60)
    # The ledger keeps what the taker reported and shows what still counts.
    rows = {r[0]: r for r in body(read(await export(client, world, "service-orders")))}
    assert len(rows) == 2
    by_reported = sorted((r[10], r[11]) for r in rows.values())
    assert by_reported == [(45, 0), (60, 60)]
    assert kept != revoked
