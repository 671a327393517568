"""Points: earning rules, grants once per source, reversals, awards, the ledger's rules."""

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.core.db import utcnow, write_transaction
from app.core.timeutil import month_key
from app.models.points import SourceKind
from app.services import points
from tests.factories.points import fund, insert_redemption, set_rules
from tests.factories.users import auth
from tests.factories.volunteer_hours import insert_entry
from tests.support.points import assert_ledger_is_exact

RULES = {
    "per_volunteer_hour": 10,
    "per_confirmed_wish": 20,
    "per_completed_order": 15,
    "per_report_in": 5,
}


async def test_each_source_earns_by_the_district_rule_once_and_an_undo_takes_it_back(client, world):
    app, member = world.app, world.user("member")
    refused = await client.put(
        "/points/rules", json=RULES, headers=auth(app, world.user("community_admin"))
    )
    assert refused.status_code == 403
    put = await client.put(
        "/points/rules", json=RULES, headers=auth(app, world.user("district_admin"))
    )
    assert put.status_code == 200 and put.json()["per_report_in"] == 5

    # A report-in (5), an hour entry approved (90 minutes: 15), twice asked.
    assert (await client.post("/report-ins", json={}, headers=auth(app, member))).status_code == 201
    entry = await insert_entry(app, user=member, org=world["C1"], minutes=90)
    review = await client.post(
        f"/volunteer-hours/{entry.id}/review",
        json={"approve": True},
        headers=auth(app, world.user("community_admin")),
    )
    assert review.status_code == 200
    # A rated service order (15) granted twice by retries: once.
    async with write_transaction(app.state.sessionmaker) as s:
        for _ in range(2):
            await points.grant_for(
                s,
                source_kind=SourceKind.service_order,
                source_id=7,
                user_id=member.id,
                org_id=world["C1"].id,
            )
    mine = (await client.get("/me/points", headers=auth(app, member))).json()
    assert mine["balance"] == 5 + 15 + 15
    month = month_key(utcnow())
    assert [e["text"] for e in mine["entries"]] == [
        f"{month} 完成服务订单",
        f"{month} 志愿服务 1.5 小时（清理背街小巷）",
        f"{month} 到社区报到",
    ]

    # The hours undone: their 15 points go back, once.
    async with write_transaction(app.state.sessionmaker) as s:
        for _ in range(2):
            await points.reverse_for(
                s, source_kind=SourceKind.volunteer_hour, source_id=entry.id, reason="核实有误"
            )
    mine = (await client.get("/me/points", headers=auth(app, member))).json()
    assert mine["balance"] == 20
    assert mine["entries"][0]["points"] == -15
    assert mine["entries"][0]["text"].startswith(f"{month} 撤销：志愿服务 1.5 小时")
    await assert_ledger_is_exact(app)


async def test_awards_are_capped_need_reach_and_accounts_show_to_admins_and_the_unit(client, world):
    app, member = world.app, world.user("member")
    cap = app.state.settings.points_award_cap
    body = {"user_id": member.id, "points": 8, "reason": "垃圾分类督导表现突出"}
    admin = auth(app, world.user("community_admin"))
    assert (await client.post("/points/awards", json=body, headers=admin)).status_code == 201
    over = await client.post("/points/awards", json={**body, "points": cap + 1}, headers=admin)
    assert (over.status_code, over.json()["code"]) == (422, "award_over_cap")
    street = await client.post(
        "/points/awards", json=body, headers=auth(app, world.user("street_admin"))
    )
    assert street.status_code == 403
    neighbour = await client.post(
        "/points/awards", json=body, headers=auth(app, world.user("other_community_admin"))
    )
    assert neighbour.status_code == 404

    for who, org in (("community_admin", "C1"), ("unit_admin", "U1")):
        listed = await client.get(
            "/points/accounts",
            params={"org_id": world[org].id},
            headers=auth(app, world.user(who)),
        )
        assert [(a["name"], a["balance"], a["earned"]) for a in listed.json()["items"]] == [
            ("党员甲", 8, 8)
        ], who
    await assert_ledger_is_exact(app)


async def test_entries_are_never_updated_or_deleted(world):
    app = world.app
    await fund(app, world.user("member"), world["C1"], 10)
    for sql in ("UPDATE points_entries SET amount = 1000", "DELETE FROM points_entries"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with write_transaction(app.state.sessionmaker) as s:
                await s.execute(text(sql))
    await assert_ledger_is_exact(app)


async def test_a_reversal_takes_back_no_more_than_is_left(world):
    """Points spent stay spent: undoing a grant never takes a balance below zero."""
    app, member = world.app, world.user("member")
    await set_rules(app, world["D"], order=15)
    async with write_transaction(app.state.sessionmaker) as s:
        await points.grant_for(
            s,
            source_kind=SourceKind.service_order,
            source_id=1,
            user_id=member.id,
            org_id=world["C1"].id,
        )
        shop = await points.account_id(s, points.AccountKind.shop, org_id=world["C1"].id)
        mine = await points.account_id(s, points.AccountKind.person, user_id=member.id)
        await points.transfer(
            s,
            from_id=mine,
            to_id=shop,
            amount=10,
            kind=points.EntryKind.redeem,
            user_id=member.id,
            org_id=world["C1"].id,
            note="兑换",
        )
        back = await points.reverse_for(
            s, source_kind=SourceKind.service_order, source_id=1, reason="订单撤销"
        )
        assert back is not None and back.amount == 5
        assert await points.balance_of(s, member.id) == 0
    await assert_ledger_is_exact(app)


async def test_the_points_and_redemptions_ledgers_list_the_months_entries(client, world):
    app, member = world.app, world.user("member")
    await insert_redemption(app, member, world["C1"])
    for dataset, rows in (
        ("points", [("社区奖励", "测试奖励", 10), ("兑换", "兑换 大米 5 斤 ×1", -10)]),
        ("redemptions", [("大米 5 斤", 1, 10, "待取货", None)]),
    ):
        resp = await client.get(
            f"/exports/{dataset}.xlsx",
            params={"org_id": world["S1"].id},
            headers=auth(app, world.user("street_admin")),
        )
        assert resp.status_code == 200, resp.text[:300]
        sheet = load_workbook(io.BytesIO(resp.content)).active
        data = [r for r in sheet.iter_rows(min_row=4, values_only=True) if isinstance(r[0], int)]
        if dataset == "points":
            assert [(r[4], r[5], r[6]) for r in data] == rows
            assert all(r[2] == "党员甲" for r in data)
        else:
            assert [r[4:] for r in data] == rows


async def test_admins_below_read_the_districts_rules_and_a_big_screen_sees_earners_masked(
    client, world
):
    await set_rules(world.app, world["D"], hour=10, order=15)
    rules = await client.get(
        "/points/rules", params={"org_id": world["C1"].id}, headers=world.headers("community_admin")
    )
    assert (rules.json()["district_id"], rules.json()["per_volunteer_hour"]) == (world["D"].id, 10)
    await fund(world.app, world.user("member"), world["C1"], 12)
    await fund(world.app, world.user("community_admin"), world["C1"], 5)
    as_admin = await client.get(
        "/stats/points", params={"org_id": world["S1"].id}, headers=world.headers("street_admin")
    )
    body = as_admin.json()
    c1 = next(c for c in body["children"] if c["org_id"] == world["C1"].id)
    assert (body["issued"], c1["issued"], c1["outstanding"], c1["spent"]) == (17, 17, 17, 0)
    (earners,) = body["top_earners"]
    assert [(e["name"], e["earned"]) for e in earners["earners"]] == [
        (world.user("member").name, 12),
        (world.user("community_admin").name, 5),
    ]
    # The same figure on a big screen (an API key with read:stats): names masked, no ids.
    key = await client.post(
        "/api-keys",
        json={"name": "大屏", "org_id": world["S1"].id, "scopes": ["read:stats"]},
        headers=world.headers("street_admin"),
    )
    screen = await client.get(
        "/stats/points",
        params={"org_id": world["S1"].id},
        headers={"X-API-Key": key.json()["key"]},
    )
    (earners,) = screen.json()["top_earners"]
    first = earners["earners"][0]
    assert first["user_id"] is None and first["name"] != world.user("member").name
    assert first["name"].endswith("*")
