"""The console's units screens (issue 18) without a browser: a unit's party
secretary logs in for their unit's members, and admins pair units with communities
and assign liaisons from forms, through the services the API uses (who reaches
which screen is the authorization matrix's)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from app.models.audit import AuditEntry
from app.models.pairing import Liaison, Pairing, PairingStatus
from app.routers.console import SESSION_COOKIE
from tests.factories.console import console_headers
from tests.factories.pairings import make_pairing
from tests.factories.tasks import make_report_in
from tests.factories.users import make_user

HTML = {"Accept": "text/html"}


@pytest.fixture
async def browser(db) -> AsyncIterator[httpx.AsyncClient]:
    """A browser's cookie jar over HTTPS (the console's cookies are Secure)."""
    transport = httpx.ASGITransport(app=db)
    async with httpx.AsyncClient(transport=transport, base_url="https://test") as c:
        yield c


async def test_a_units_party_secretary_logs_in_and_lands_on_their_units_report_ins(browser, world):
    ticket = (await browser.post("/api/v1/auth/console-login")).json()["ticket"]
    resp = await browser.post(
        f"/api/v1/auth/console-login/{ticket}/confirm", headers=world.headers("unit_admin")
    )
    assert resp.status_code == 204, resp.text
    assert (await browser.get(f"/api/v1/auth/console-login/{ticket}")).status_code == 200
    assert browser.cookies.get(SESSION_COOKIE)

    home = await browser.get("/console/", headers=HTML)
    assert home.status_code == 303
    assert home.headers["location"].endswith("/console/units/members")
    page = await browser.get("/console/units/members", headers=HTML)
    assert page.status_code == 200
    member = world.user("member")
    assert f'data-person="{member.id}"' in page.text and "东关小学" in page.text
    # Phones masked: the secretary sees who to call on, not the number.
    assert member.phone_masked and member.phone_masked in page.text
    # The menu holds only what they may open; the rest is 403 as to a member.
    menu = page.text.split("<nav>", 1)[1].split("</nav>", 1)[0]
    assert "党员报到" in menu and "结对共建" in menu
    assert "花名册" not in menu and "待办" not in menu and "随手拍" not in menu
    assert (await browser.get("/console/roster", headers=HTML)).status_code == 403
    assert (await browser.get("/console/liaisons", headers=HTML)).status_code == 403


async def test_a_member_who_reported_this_month_is_off_the_list_and_counted(client, world):
    member = world.user("member")
    await make_report_in(world.app, member)
    other = await make_user(
        world.app, "党员乙", community=world["C2"], unit=world["U1"], party=True
    )
    headers = {**await console_headers(world.app, world.user("unit_admin")), **HTML}
    page = (await client.get("http://test/console/units/members", headers=headers)).text
    assert f'data-person="{member.id}"' not in page and f'data-person="{other.id}"' in page
    assert "data-members>2<" in page and "data-reported>1<" in page
    # Another org, or a month that is no month, is refused.
    resp = await client.get(
        "http://test/console/units/members", params={"org_id": world["C1"].id}, headers=headers
    )
    assert resp.status_code == 404
    resp = await client.get(
        "http://test/console/units/members", params={"month": "2026-13"}, headers=headers
    )
    assert resp.status_code == 422 and 'data-code="validation_error"' in resp.text


async def test_a_street_admin_pairs_a_unit_with_a_community_and_ends_it_from_forms(client, world):
    admin = world.user("street_admin")
    headers = {**await console_headers(world.app, admin), **HTML}
    form = {
        "unit_id": str(world["U1"].id),
        "community_id": str(world["C1"].id),
        "starts_on": "2026-03-01",
        "ends_on": "",
        "commitments": "每月组织一次志愿服务\r\n\r\n认领微心愿",
    }
    resp = await client.post("http://test/console/pairings", headers=headers, data=form)
    assert resp.status_code == 303 and resp.headers["location"].endswith("?done=created")
    async with world.app.state.sessionmaker() as s:
        pairing = (await s.execute(select(Pairing))).scalar_one()
        assert pairing.commitments == ["每月组织一次志愿服务", "认领微心愿"]
        assert (
            await s.execute(select(AuditEntry).where(AuditEntry.action == "pairing.create"))
        ).scalar_one().actor_id == admin.id
    # The same pair again is the API's conflict, shown as a page.
    resp = await client.post("http://test/console/pairings", headers=headers, data=form)
    assert resp.status_code == 409 and 'data-code="already_paired"' in resp.text

    page = (await client.get("http://test/console/pairings", headers=headers)).text
    assert f'data-pairing="{pairing.id}"' in page and "data-create-pairing" in page
    resp = await client.post(
        f"http://test/console/pairings/{pairing.id}/end", headers=headers, data={"note": "期满"}
    )
    assert resp.status_code == 303
    async with world.app.state.sessionmaker() as s:
        assert (await s.get(Pairing, pairing.id)).status == PairingStatus.ended


async def test_a_units_secretary_sees_their_pairings_without_the_forms(client, world):
    pairing = await make_pairing(
        world.app, unit=world["U1"], community=world["C1"], by=world.user("street_admin")
    )
    headers = {**await console_headers(world.app, world.user("unit_admin")), **HTML}
    page = (await client.get("http://test/console/pairings", headers=headers)).text
    assert f'data-pairing="{pairing.id}"' in page
    assert "data-create-pairing" not in page and "结束结对" not in page


async def test_a_form_without_the_csrf_token_changes_nothing(client, world):
    headers = await console_headers(world.app, world.user("street_admin"), csrf=False)
    resp = await client.post(
        "http://test/console/pairings",
        headers=headers,
        data={
            "unit_id": str(world["U1"].id),
            "community_id": str(world["C1"].id),
            "starts_on": "2026-03-01",
        },
    )
    assert resp.status_code == 403 and resp.json()["code"] == "csrf_failed"
    async with world.app.state.sessionmaker() as s:
        assert (await s.execute(select(Pairing))).first() is None


async def test_the_district_assigns_a_liaison_and_a_street_sees_it_but_not_the_form(client, world):
    headers = {**await console_headers(world.app, world.user("district_admin")), **HTML}
    resp = await client.post(
        "http://test/console/liaisons",
        headers=headers,
        data={
            "user_id": str(world.user("street_admin").id),
            "org_id": str(world["C1"].id),
            "starts_on": "2026-03-01",
            "ends_on": "",
        },
    )
    assert resp.status_code == 303
    async with world.app.state.sessionmaker() as s:
        liaison = (await s.execute(select(Liaison))).scalar_one()
    street = {**await console_headers(world.app, world.user("street_admin")), **HTML}
    page = (await client.get("http://test/console/liaisons", headers=street)).text
    assert f'data-liaison="{liaison.id}"' in page and "data-create-liaison" not in page
    # A unit is no place for a liaison: the API's 422.
    resp = await client.post(
        "http://test/console/liaisons",
        headers=headers,
        data={
            "user_id": str(world.user("street_admin").id),
            "org_id": str(world["U1"].id),
            "starts_on": "2026-03-01",
        },
    )
    assert resp.status_code == 422 and 'data-code="invalid_liaison_org"' in resp.text
    # A unit in liaison, picked instead of a leader, is listed as the unit.
    resp = await client.post(
        "http://test/console/liaisons",
        headers=headers,
        data={
            "user_id": "",
            "unit_id": str(world["U1"].id),
            "org_id": str(world["C2"].id),
            "starts_on": "2026-03-01",
        },
    )
    assert resp.status_code == 303
    page = (await client.get("http://test/console/liaisons", headers=street)).text
    assert "东关小学（单位）" in page
