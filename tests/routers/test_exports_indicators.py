"""The indicators' ledger (网上资料申报台账): every item of the orgs in reach with its
owner, due day, state, overdue, evidence counted as everyone sees it, and review; on the
console's exports screen too."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.indicator import IndicatorStatus
from app.models.media import MediaCheckStatus
from tests.factories.console import console_headers
from tests.factories.indicators import insert_indicator
from tests.factories.media import make_media
from tests.routers.test_exports import (
    FORMULA_TITLE,
    assert_ledger_layout,
    body,
    cells,
    export,
    read,
    text_of,
)

pytestmark = pytest.mark.usefixtures("counts_stay_exact")

HEADERS = [
    "序号",
    "指标编号",
    "指标名称",
    "责任组织",
    "责任人",
    "截止日期",
    "状态",
    "是否逾期",
    "证明材料数",
    "提交时间",
    "审核时间",
    "审核意见",
]


@pytest.fixture
async def items(client, world):
    app, member, admin = world.app, world.user("member"), world.user("community_admin")
    today = local(utcnow()).date()
    handed_in = await insert_indicator(
        app,
        org=world["C1"],
        owner=member,
        creator=admin,
        due_on=today + timedelta(days=3),
        title="志愿服务站点台账",
    )
    late = await insert_indicator(
        app,
        org=world["C2"],
        owner=world.user("other_community_admin"),
        creator=world.user("street_admin"),
        due_on=today - timedelta(days=1),
        title="文明家庭评选材料",
    )
    # Another street's: in no S1 ledger.
    await insert_indicator(
        app,
        org=world["C3"],
        owner=world.user("other_street_admin"),
        creator=world.user("other_street_admin"),
        title="西湖社区的材料",
    )
    # Two photos WeChat passed and one it has not judged yet (seen by its uploader only).
    photos = [
        await make_media(app, member),
        await make_media(app, member),
        await make_media(app, member, check_status=MediaCheckStatus.pending),
    ]
    resp = await client.post(
        f"/indicators/{handed_in.id}/evidence",
        json={"note": "台账照片三张", "photo_ids": [p.id for p in photos]},
        headers=world.headers("member"),
    )
    assert resp.status_code == 200, resp.text
    reviewed = await client.post(
        f"/indicators/{handed_in.id}/review",
        json={"approve": False, "comment": "缺少签到表"},
        headers=world.headers("street_admin"),
    )
    assert reviewed.status_code == 200, reviewed.text
    return handed_in, late


async def test_the_street_ledger_lists_its_items_with_owner_state_overdue_and_evidence(
    client, world, items
):
    handed_in, late = items
    ws = read(await export(client, world, "indicators"))
    assert_ledger_layout(
        ws,
        f"{world['S1'].name} 网上资料申报台账（截至{local(utcnow()).date():%Y年%-m月%-d日}）",
        HEADERS,
        2,
        unit="项",
    )
    rows = body(ws)
    # The board's order: by due day.
    assert [(r[1], r[2], r[3], r[4], r[6], r[7], r[8], r[11]) for r in rows] == [
        (late.code, "文明家庭评选材料", "仓门社区", "邻社区书记", "待提交", "是", 0, None),
        (handed_in.code, "志愿服务站点台账", "东关社区", "党员甲", "已退回", "否", 2, "缺少签到表"),
    ]
    assert rows[0][5] is not None and rows[1][9] is not None and rows[1][10] is not None


async def test_the_ledger_filters_by_state_refuses_a_year_and_keeps_to_reach(client, world, items):
    returned = body(read(await export(client, world, "indicators", status="returned")))
    assert [r[2] for r in returned] == ["志愿服务站点台账"]
    resp = await export(client, world, "indicators", status="done")
    assert (resp.status_code, resp.json()["code"]) == (422, "invalid_status")
    resp = await export(client, world, "indicators", year=2026)
    assert (resp.status_code, resp.json()["code"]) == (422, "invalid_filter")
    own = body(read(await export(client, world, "indicators", who="community_admin", org="C1")))
    assert [r[2] for r in own] == ["志愿服务站点台账"]
    for who, org in (("community_admin", "S1"), ("other_street_admin", "C1")):
        assert (await export(client, world, "indicators", who=who, org=org)).status_code == 404
    refused = await export(client, world, "indicators", who="unit_admin", org="U1")
    assert refused.status_code == 404
    key = await client.post(
        "/api-keys",
        json={"name": "大屏", "org_id": world["S1"].id, "scopes": ["read:stats"]},
        headers=world.headers("street_admin"),
    )
    by_key = await client.get(
        "/exports/indicators.xlsx",
        params={"org_id": world["S1"].id},
        headers={"X-API-Key": key.json()["key"]},
    )
    assert by_key.status_code == 401


async def test_a_formula_like_title_comes_out_of_the_ledger_as_text(client, world):
    await insert_indicator(
        world.app,
        org=world["C1"],
        owner=world.user("member"),
        creator=world.user("community_admin"),
        title=FORMULA_TITLE,
    )
    resp = await export(client, world, "indicators")
    written = {c.value: c for c in cells(read(resp))}
    assert written[FORMULA_TITLE].data_type == "s" and written[FORMULA_TITLE].quotePrefix
    assert "<f>" not in text_of(resp)


async def test_the_console_exports_screen_offers_the_ledger_and_downloads_it(client, world, items):
    headers = await console_headers(world.app, world.user("street_admin"))
    page = (await client.get("http://test/console/exports", headers=headers)).text
    assert 'data-ledger="indicators"' in page and "网上资料申报台账" in page
    resp = await client.get(
        "http://test/console/exports/indicators.xlsx",
        params={"org_id": world["S1"].id, "status": IndicatorStatus.pending.value},
        headers=headers,
    )
    assert [r[2] for r in body(read(resp))] == ["文明家庭评选材料"]
