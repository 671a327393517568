"""The console's service menu (服务清单) without a browser: an item offered and withdrawn
from the console is the API's own, audited the same way; another district, an
inspector and an API key get nothing of it (the matrix has the world's other callers)."""

from __future__ import annotations

from sqlalchemy import select

from app.models.audit import AuditEntry
from app.models.org import OrgLevel
from app.models.service_order import ServiceItem
from app.models.user import Role
from tests.factories.console import console_headers
from tests.factories.orgs import make_org
from tests.factories.service_orders import insert_item
from tests.factories.users import make_user

HTML = {"Accept": "text/html"}


async def _menu_of_c1(client, world) -> list[str]:
    resp = await client.get(
        "/service-items", params={"community_id": world["C1"].id}, headers=world.headers("member")
    )
    assert resp.status_code == 200
    return [i["title"] for i in resp.json()]


async def test_a_secretary_offers_an_item_and_withdraws_it_and_it_leaves_the_residents_menu(
    client, world
):
    admin = world.user("community_admin")
    headers = await console_headers(world.app, admin)
    offered = await client.post(
        "http://test/console/service-items",
        data={"org_id": world["C1"].id, "title": "代买药品", "service_type": "代办", "team_id": ""},
        headers=headers,
    )
    assert offered.status_code == 303, offered.text
    assert offered.headers["location"].endswith("/console/service-items?done=created")
    assert await _menu_of_c1(client, world) == ["代买药品"]

    page = (await client.get("http://test/console/service-items", headers=headers)).text
    async with world.app.state.sessionmaker() as s:
        item = (await s.execute(select(ServiceItem))).scalar_one()
    assert f'data-item="{item.id}"' in page and "在架" in page and "下架</button>" in page

    withdrawn = await client.post(
        f"http://test/console/service-items/{item.id}/withdraw", data={}, headers=headers
    )
    assert withdrawn.status_code == 303, withdrawn.text
    assert await _menu_of_c1(client, world) == []
    page = (await client.get("http://test/console/service-items", headers=headers)).text
    assert "已下架" in page and "下架</button>" not in page

    again = await client.post(
        f"http://test/console/service-items/{item.id}/withdraw", data={}, headers=headers
    )
    assert (again.status_code, again.json()["code"]) == (409, "item_withdrawn")
    async with world.app.state.sessionmaker() as s:
        actions = (
            await s.execute(
                select(AuditEntry.action).where(
                    AuditEntry.actor_id == admin.id, AuditEntry.target_type == "service_item"
                )
            )
        ).all()
    assert [a for (a,) in actions] == ["service_item.withdraw"]


async def test_a_withdrawal_without_the_pages_token_is_refused_and_the_item_stays(client, world):
    item = await insert_item(world.app, org=world["C1"], by=world.user("community_admin"))
    headers = await console_headers(world.app, world.user("community_admin"), csrf=False)
    resp = await client.post(
        f"http://test/console/service-items/{item.id}/withdraw", data={}, headers=headers
    )
    assert (resp.status_code, resp.json()["code"]) == (403, "csrf_failed")
    assert await _menu_of_c1(client, world) == ["上门理发"]


async def test_another_district_an_inspector_and_an_api_key_reach_nothing_of_the_menu(
    client, world
):
    item = await insert_item(
        world.app, org=world["C1"], by=world.user("community_admin"), title="东关的上门理发"
    )
    other = await make_org(world.app, "邻区", OrgLevel.district)
    other_admin = await make_user(world.app, "邻区管理员", roles=[(Role.district_admin, other)])
    headers = await console_headers(world.app, other_admin)
    page = await client.get("http://test/console/service-items", headers=headers)
    assert page.status_code == 200 and "东关的上门理发" not in page.text
    refused = await client.post(
        f"http://test/console/service-items/{item.id}/withdraw", data={}, headers=headers
    )
    assert refused.status_code == 404

    inspector = await console_headers(world.app, world.user("inspector"))
    assert (
        await client.get("http://test/console/service-items", headers=inspector)
    ).status_code == 403

    key = await client.post(
        "/api-keys",
        json={"name": "大屏", "org_id": world["S1"].id, "scopes": ["read:stats"]},
        headers=world.headers("street_admin"),
    )
    assert key.status_code == 201
    by_key = await client.get(
        "http://test/console/service-items", headers={"X-API-Key": key.json()["key"], **HTML}
    )
    # No console session: a browser is sent to the login page.
    assert by_key.status_code == 303 and by_key.headers["location"].endswith("/console/login")
    assert await _menu_of_c1(client, world) == ["东关的上门理发"]
