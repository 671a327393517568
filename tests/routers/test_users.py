"""The roster: POST/GET/PATCH /users, bulk import, phone protection."""

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import text

from app.models.org import OrgLevel
from tests.factories.orgs import make_org

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")


async def add_user(client, world, who="community_admin", **overrides):
    body = {
        "name": "新党员",
        "phone": "13811112222",
        "community_id": world["C1"].id,
        "is_party_member": True,
    }
    body.update(overrides)
    return await client.post("/users", json=body, headers=world.headers(who))


async def test_community_admin_adds_a_roster_entry_shown_masked(client, world):
    resp = await add_user(client, world, phone="+86 138-1111-2222", unit_id=world["U1"].id)
    assert resp.status_code == 201
    body = resp.json()
    assert body["phone_masked"] == "138****2222"
    assert "phone" not in body
    assert body["wechat_bound"] is False
    assert body["unit_id"] == world["U1"].id
    assert body["roles"] == []


async def test_the_phone_column_in_the_database_is_not_the_plain_number(client, world):
    await add_user(client, world, phone="13811112222")
    async with world.app.state.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM users"))).mappings().all()
    dumped = repr([dict(r) for r in rows])
    assert "13811112222" not in dumped
    assert "138****2222" in dumped  # only the masked form is stored readable


async def test_a_phone_already_on_the_roster_is_409_phone_exists(client, world):
    assert (await add_user(client, world)).status_code == 201
    again = await add_user(client, world, name="另一个人")
    assert again.status_code == 409
    assert again.json()["code"] == "phone_exists"


async def test_a_malformed_phone_is_422(client, world):
    resp = await add_user(client, world, phone="12345678901")
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_phone"


async def test_adding_to_a_community_outside_reach_is_refused(client, world):
    resp = await add_user(client, world, community_id=world["C3"].id)
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_community"


async def test_unit_must_be_a_unit_of_the_same_district(client, world):
    other_district = await make_org(world.app, "外区", OrgLevel.district)
    foreign_unit = await make_org(world.app, "外区单位", OrgLevel.unit, other_district)
    resp = await add_user(client, world, unit_id=foreign_unit.id)
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_unit"
    not_a_unit = await add_user(client, world, unit_id=world["C2"].id)
    assert not_a_unit.json()["code"] == "invalid_unit"


async def test_fields_a_client_must_not_set_are_refused(client, world):
    resp = await add_user(client, world, openid="o-hijack")
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


async def test_roster_list_is_scoped_to_the_admins_reach(client, world):
    street = await client.get(
        "/users", headers=world.headers("street_admin"), params={"page_size": 100}
    )
    names = {u["name"] for u in street.json()["items"]}
    assert "外街道管理员" not in names  # lives in C3, the next street
    assert {"社区书记", "邻社区书记", "党员甲"} <= names
    community = await client.get("/users", headers=world.headers("other_community_admin"))
    assert {u["name"] for u in community.json()["items"]} == {"邻社区书记"}


async def test_roster_list_filters(client, world):
    h = world.headers("district_admin")
    by_community = await client.get("/users", headers=h, params={"community_id": world["C3"].id})
    assert {u["name"] for u in by_community.json()["items"]} == {"外街道管理员"}
    by_name = await client.get("/users", headers=h, params={"name": "书记"})
    assert {u["name"] for u in by_name.json()["items"]} == {"社区书记", "邻社区书记"}


@pytest.mark.parametrize("param", ["community_id", "unit_id"])
async def test_a_roster_filter_on_an_org_outside_reach_is_404_like_a_missing_one(
    client, world, param
):
    h = world.headers("street_admin")  # S1: C1, C2 and U1, not C3
    outside = world["C3"] if param == "community_id" else world["UD"]
    inside = world["C1"] if param == "community_id" else world["U1"]
    assert (await client.get("/users", headers=h, params={param: inside.id})).status_code == 200
    resp = await client.get("/users", headers=h, params={param: outside.id})
    assert resp.status_code == 404, resp.text
    missing = await client.get("/users", headers=h, params={param: 2_000_000_000})
    assert missing.status_code == 404


async def test_admin_edits_a_roster_entry_and_may_move_it_within_reach(client, world):
    member = world.user("member")
    h = world.headers("street_admin")
    resp = await client.patch(
        f"/users/{member.id}", json={"name": "党员甲改", "community_id": world["C2"].id}, headers=h
    )
    assert resp.status_code == 200
    assert resp.json()["community_id"] == world["C2"].id
    away = await client.patch(
        f"/users/{member.id}", json={"community_id": world["C3"].id}, headers=h
    )
    assert away.status_code == 422


async def test_changing_a_phone_to_one_on_the_roster_is_409(client, world):
    created = (await add_user(client, world, phone="13811112222")).json()
    member = world.user("member")
    resp = await client.patch(
        f"/users/{member.id}",
        json={"phone": "13811112222"},
        headers=world.headers("community_admin"),
    )
    assert resp.status_code == 409
    same = await client.patch(
        f"/users/{created['id']}",
        json={"phone": "13811112222"},
        headers=world.headers("community_admin"),
    )
    assert same.status_code == 200


def xlsx(rows):
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def upload(client, world, name, content, who="street_admin"):
    return await client.post(
        "/users/import", files={"file": (name, content)}, headers=world.headers(who)
    )


async def test_import_xlsx_with_chinese_headers_keeps_good_rows_and_reports_bad_ones(client, world):
    content = xlsx(
        [
            ["姓名", "手机号", "社区", "单位", "是否党员"],
            ["王一", 13900000001, "东关社区", "东关小学", "是"],
            ["王二", "13900000002", str(world["C2"].id), None, "否"],
            ["王三", "1390000", "东关社区", None, "是"],  # bad phone
            ["王四", "13900000004", "西湖社区", None, "是"],  # outside the street's reach
            ["王五", "13900000005", "东关社区", None, "也许"],  # unreadable flag
            ["王六", "13900000001", "东关社区", None, "是"],  # same phone as row 2
            [None, None, None, None, None],  # blank line: skipped silently
            ["王七", "13900000007", "东关社区", "区委宣传部", "党员"],
        ]
    )
    resp = await upload(client, world, "花名册.xlsx", content)
    assert resp.status_code == 200
    body = resp.json()
    assert body["created"] == 3
    assert body["updated"] == 0
    assert [e["row"] for e in body["errors"]] == [4, 5, 6, 7]
    assert "第 2 行" in body["errors"][3]["message"]
    listed = await client.get(
        "/users", headers=world.headers("street_admin"), params={"name": "王", "page_size": 100}
    )
    by_name = {u["name"]: u for u in listed.json()["items"]}
    assert set(by_name) == {"王一", "王二", "王七"}
    assert by_name["王一"]["unit_id"] == world["U1"].id
    assert by_name["王二"]["is_party_member"] is False
    assert by_name["王七"]["unit_id"] == world["UD"].id


async def test_import_csv_in_gbk_with_english_headers_updates_existing_entries(client, world):
    first = "name,phone,community,unit,is_party_member\n张三,13900000011,东关社区,,yes\n"
    await upload(client, world, "roster.csv", first.encode("gbk"))
    second = "name,phone,community,unit,is_party_member\n张三丰,13900000011,仓门社区,,no\n李四,13900000012,仓门社区,,1\n"
    resp = await upload(client, world, "roster.csv", second.encode("gbk"))
    body = resp.json()
    assert (body["created"], body["updated"], body["errors"]) == (1, 1, [])
    listed = await client.get(
        "/users", headers=world.headers("street_admin"), params={"name": "张三"}
    )
    (entry,) = listed.json()["items"]
    assert entry["name"] == "张三丰"
    assert entry["community_id"] == world["C2"].id
    assert entry["is_party_member"] is False


async def test_import_never_overwrites_someone_outside_reach(client, world):
    outsider_phone = "13900000021"
    outsider = await add_user(
        client, world, who="other_street_admin", phone=outsider_phone, community_id=world["C3"].id
    )
    csv = f"姓名,手机号,社区\n冒名,{outsider_phone},东关社区\n".encode()
    body = (await upload(client, world, "r.csv", csv)).json()
    # The row lands as an entry of the importer's own: nothing says the phone is
    # on another roster, and the other entry is untouched.
    assert (body["created"], body["updated"], body["errors"]) == (1, 0, [])
    theirs = await client.get(
        f"/users/{outsider.json()['id']}", headers=world.headers("other_street_admin")
    )
    assert (theirs.json()["name"], theirs.json()["community_id"]) == ("新党员", world["C3"].id)


async def test_import_without_required_columns_is_422(client, world):
    resp = await upload(client, world, "r.csv", "姓名,社区\n王,东关社区\n".encode())
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_import_file"
    assert "phone" in resp.json()["detail"]


async def test_import_of_a_broken_spreadsheet_is_422_not_500(client, world):
    resp = await upload(client, world, "r.xlsx", b"PK\x03\x04 not really a zip")
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_import_file"


async def test_import_of_a_file_over_the_limit_is_413(client, world):
    limit = world.app.state.settings.roster_import_max_bytes
    resp = await upload(client, world, "r.csv", b"a" * (limit + 1))
    assert resp.status_code == 413
    assert resp.json()["code"] == "file_too_large"


async def test_import_with_ambiguous_community_names_asks_for_ids(client, world):
    await make_org(world.app, "东关社区", OrgLevel.community, world["S2"])
    csv = "姓名,手机号,社区\n重名,13900000031,东关社区\n".encode()
    body = (await upload(client, world, "r.csv", csv, who="district_admin")).json()
    assert body["created"] == 0
    assert "重名" in body["errors"][0]["message"]
