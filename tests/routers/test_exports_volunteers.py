"""The volunteers and service-orders ledgers (台账): what the lists show, personal data
masked, withdrawn volunteers left out."""

import pytest

from app.models.service_order import OrderStatus
from app.models.volunteer import VolunteerStatus
from tests.factories.service_orders import ADDRESS, insert_order
from tests.factories.teams import insert_team
from tests.factories.users import make_user
from tests.factories.volunteers import insert_volunteer
from tests.routers.test_exports import body, export, read, text_of

pytestmark = pytest.mark.usefixtures("counts_stay_exact")


async def test_volunteer_and_order_ledgers_match_the_lists_with_personal_data_masked(client, world):
    app = world.app
    kept = await make_user(app, "志愿者丁")
    await insert_volunteer(app, community=world["C1"], user=kept, status=VolunteerStatus.approved)
    await insert_volunteer(app, community=world["C2"], status=VolunteerStatus.withdrawn)
    await insert_volunteer(app, community=world["C3"])  # another street's
    taker = await make_user(app, "接单人", community=world["C1"])
    team = await insert_team(app, org=world["C1"], leader=taker)
    await insert_order(
        app,
        community=world["C1"],
        orderer=world.user("member"),
        status=OrderStatus.taken,
        team=team,
        taker=taker,
    )

    volunteers = read(await export(client, world, "volunteers"))
    rows = body(volunteers)
    assert [(r[1], r[2], r[5]) for r in rows] == [("志愿者丁", kept.phone_masked, "已通过")]
    resp = await export(client, world, "service-orders")
    orders = body(read(resp))
    assert [(r[1], r[4], r[6], r[7]) for r in orders] == [
        ("上门理发", "已接单", team.name, "接单人")
    ]
    assert ADDRESS not in text_of(resp)
