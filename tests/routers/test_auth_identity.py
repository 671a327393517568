"""Who a person is: no token changes owner, a lower admin cannot move an identity,
a bind takes everything the first-login account made, nothing about phones outside
reach leaks, and ids are never handed out twice (issue 15, Identity)."""

import asyncio
import io
import json
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app.core.db import metadata
from app.core.security import issue_access_token
from app.models.audit import AuditEntry
from app.models.idempotency import IdempotencyRecord
from app.models.notification import Message, SubscribeGrant
from app.models.org import Org, OrgLevel
from app.models.user import Role, User
from app.services.orgs import insert_org
from tests.factories.media import make_media
from tests.factories.tasks import PLACE, make_task
from tests.factories.users import auth, make_user, next_phone

pytestmark = pytest.mark.usefixtures("counts_stay_exact")

HERE = {"lat": PLACE[0], "lng": PLACE[1]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client, openid: str) -> dict[str, Any]:
    resp = await client.post("/auth/wechat-login", json={"code": f"{openid}#{next_phone()}"})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def bind(client, token: str, phone: str, **extra: Any):
    body = {"code": f"{phone}#{next_phone()}", **extra}
    return await client.post("/auth/bind-phone", json=body, headers=bearer(token))


async def add_entry(client, world, phone: str, who="district_admin", org="C1", name="花名册人员"):
    body = {"name": name, "phone": phone, "community_id": world[org].id, "is_party_member": True}
    resp = await client.post("/users", json=body, headers=world.headers(who))
    assert resp.status_code == 201, resp.text
    return resp.json()


async def audit_entries(app, action: str) -> list[AuditEntry]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(select(AuditEntry).where(AuditEntry.action == action))
        return list(rows.scalars())


# --- 1. No token changes owner ----------------------------------------------------------------


async def test_login_token_keeps_acting_as_the_roster_entry_after_bind(client, world):
    entry = await add_entry(client, world, "13955550001")
    first = await login(client, "o-keeps")
    bound = await bind(client, first["access_token"], "13955550001")
    assert bound.status_code == 200

    for token in (first["access_token"], bound.json()["access_token"]):
        me = (await client.get("/me", headers=bearer(token))).json()
        assert (me["id"], me["name"], me["phone"]) == (entry["id"], "花名册人员", "13955550001")


async def test_a_login_token_never_comes_to_act_as_the_next_roster_entry(client, world):
    await add_entry(client, world, "13955550002")
    first = await login(client, "o-reuse")
    account_id = first["user"]["id"]
    assert (await bind(client, first["access_token"], "13955550002")).status_code == 200

    # The account made at login is the newest row; on SQLite without AUTOINCREMENT the
    # next entry took its id and the login token acted as that stranger.
    stranger = await add_entry(client, world, "13955550003", name="陌生人")
    assert stranger["id"] > account_id
    me = (await client.get("/me", headers=bearer(first["access_token"]))).json()
    assert me["name"] == "花名册人员"


async def test_logout_all_ends_every_token_of_the_person(client, world):
    await add_entry(client, world, "13955550004")
    first = await login(client, "o-leaving")
    bound = (await bind(client, first["access_token"], "13955550004")).json()
    tokens = [first["access_token"], bound["access_token"]]

    out = await client.post("/auth/logout-all", headers=bearer(bound["access_token"]))
    assert out.status_code == 204
    for token in tokens:
        resp = await client.get("/me", headers=bearer(token))
        assert resp.status_code == 401
        assert resp.json()["code"] == "not_authenticated"
    # Logging in again works, as the same person.
    again = await login(client, "o-leaving")
    assert again["user"]["id"] == bound["id"]
    assert (await client.get("/me", headers=bearer(again["access_token"]))).status_code == 200


async def test_logout_all_closes_an_admins_dashboard_link(client, world):
    made = await client.post(
        "/dashboard/view-links",
        json={"org_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    assert made.status_code == 201, made.text
    link = made.json()["url"].removeprefix("http://test/api/v1")
    assert (await client.get(link)).status_code == 200
    await client.post("/auth/logout-all", headers=world.headers("street_admin"))
    assert (await client.get(link)).status_code == 401


async def test_an_ended_token_gets_no_stored_answer_replayed(client, world):
    headers = {**world.headers("member"), "Idempotency-Key": "sub-once"}
    body = {"results": {}}
    assert (await client.post("/me/subscriptions", json=body, headers=headers)).status_code == 200
    await client.post("/auth/logout-all", headers=world.headers("member"))
    again = await client.post("/me/subscriptions", json=body, headers=headers)
    assert again.status_code == 401


async def test_a_check_in_with_the_login_token_after_bind_is_the_roster_entrys(client, world):
    # The check-in reads the person together with the task (app.edge.access
    # `reads_with_caller`): by the same token rule.
    entry = await add_entry(client, world, "13955550005")
    first = await login(client, "o-checker")
    assert (await bind(client, first["access_token"], "13955550005")).status_code == 200
    task = await make_task(world.app, world["C1"])

    resp = await client.post(
        f"/tasks/{task.id}/check-ins", json=HERE, headers=bearer(first["access_token"])
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["user_id"] == entry["id"]

    await client.post("/auth/logout-all", headers=bearer(first["access_token"]))
    other = await make_task(world.app, world["C1"])
    ended = await client.post(
        f"/tasks/{other.id}/check-ins", json=HERE, headers=bearer(first["access_token"])
    )
    assert ended.status_code == 401


async def test_a_token_naming_an_id_too_large_for_the_database_is_401(client, db):
    for user_id, version in ((2**31, 0), (1, 2**31), (2**40, 0)):
        token = issue_access_token(db.state.settings, user_id, version)
        resp = await client.get("/me", headers=bearer(token.access_token))
        assert resp.status_code == 401


# --- ids are never reused -----------------------------------------------------------------


def _integer_id_tables() -> list[str]:
    return sorted(
        t.name
        for t in metadata.tables.values()
        if [c.name for c in t.primary_key.columns] == ["id"]
    )


async def test_every_table_with_an_integer_id_never_reuses_ids(db):
    tables = _integer_id_tables()
    assert "users" in tables and len(tables) >= 20
    async with db.state.engine.connect() as conn:
        for name in tables:
            assert metadata.tables[name].dialect_options["sqlite"]["autoincrement"], name
            if conn.dialect.name == "sqlite":
                ddl = (
                    await conn.execute(
                        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                        {"t": name},
                    )
                ).scalar_one()
                assert "AUTOINCREMENT" in ddl, name
            else:
                default = (
                    await conn.execute(
                        text(
                            "SELECT column_default FROM information_schema.columns "
                            "WHERE table_name = :t AND column_name = 'id'"
                        ),
                        {"t": name},
                    )
                ).scalar_one()
                assert default.startswith("nextval("), name


async def _new_user(session, world) -> User:
    return User(name="甲")


async def _new_org(session, world) -> Org:
    return await insert_org(session, name=f"区{next_phone()}", level=OrgLevel.district, parent=None)


async def _new_record(session, world) -> IdempotencyRecord:
    return IdempotencyRecord(
        principal="user:1", key=next_phone(), request_hash="0", status_code=201, response_body=""
    )


async def _new_audit(session, world) -> AuditEntry:
    return AuditEntry(actor_name="甲", action="x", target_type="user")


async def _new_message(session, world) -> Message:
    return Message(user_id=world.user("member").id, kind="x", title="t", body="b")


NEW_ROWS = {
    "users": _new_user,
    "orgs": _new_org,
    "idempotency_records": _new_record,
    "audit_log": _new_audit,
    "messages": _new_message,
}


@pytest.mark.parametrize("table", sorted(NEW_ROWS))
async def test_the_id_of_a_deleted_newest_row_is_never_handed_out_again(world, table):
    make = NEW_ROWS[table]
    async with world.app.state.sessionmaker() as session, session.begin():
        row = await make(session, world)
        session.add(row)
        await session.flush()
        newest = row.id
        await session.delete(row)
    async with world.app.state.sessionmaker() as session, session.begin():
        again = await make(session, world)
        session.add(again)
        await session.flush()
        assert again.id > newest


async def test_a_deleted_roster_entrys_token_acts_as_nobody_whoever_comes_next(client, world):
    gone = await make_user(world.app, "离开的人", community=world["C1"])
    headers = auth(world.app, gone)
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.execute(text("DELETE FROM users WHERE id = :id"), {"id": gone.id})
    await make_user(world.app, "新来的人", community=world["C1"])
    assert (await client.get("/me", headers=headers)).status_code == 401


# --- 2. A lower admin cannot move an identity ---------------------------------------------


async def _entry_holding_high_roles(client, world) -> dict[str, Any]:
    """The order the README teaches: the entry first, its roles before the person binds."""
    entry = await add_entry(client, world, "13955550010", name="新任区长")
    for role, org in (("street_admin", "S1"), ("district_admin", "D")):
        granted = await client.post(
            f"/users/{entry['id']}/roles",
            json={"role": role, "org_id": world[org].id},
            headers=world.headers("district_admin"),
        )
        assert granted.status_code == 201, granted.text
    return entry


async def test_a_community_admin_cannot_give_a_district_admins_entry_their_phone(client, world):
    entry = await _entry_holding_high_roles(client, world)
    resp = await client.patch(
        f"/users/{entry['id']}",
        json={"phone": "13955550011", "name": "改名"},
        headers=world.headers("community_admin"),
    )
    assert resp.status_code == 403
    assert resp.json()["code"] == "identity_change_forbidden"
    assert resp.json()["title"] == "不能更改此人的身份"

    kept = await client.get(f"/users/{entry['id']}", headers=world.headers("district_admin"))
    assert (kept.json()["phone_masked"], kept.json()["name"]) == ("139****0010", "新任区长")
    # The phone they control binds nothing.
    attacker = await login(client, "o-attacker")
    taken = await bind(client, attacker["access_token"], "13955550011")
    assert taken.status_code == 404
    # The refusal is on the record although the request rolled back.
    (refused,) = await audit_entries(world.app, "roster.identity_change_refused")
    assert refused.actor_id == world.user("community_admin").id
    assert refused.target_id == entry["id"]
    assert json.loads(refused.detail or "{}") == {
        "field": "phone",
        "before": "139****0010",
        "after": "139****0011",
        "roles_outside_reach": 2,
    }


async def test_an_admin_reaching_every_role_changes_the_phone_and_it_is_audited(client, world):
    entry = await _entry_holding_high_roles(client, world)
    resp = await client.patch(
        f"/users/{entry['id']}",
        json={"phone": "13955550012"},
        headers=world.headers("district_admin"),
    )
    assert resp.status_code == 200
    assert resp.json()["phone_masked"] == "139****0012"
    (moved,) = await audit_entries(world.app, "roster.identity_change")
    assert json.loads(moved.detail or "{}") == {
        "field": "phone",
        "before": "139****0010",
        "after": "139****0012",
        "unbound": False,
    }


async def test_roles_inside_the_community_admins_reach_do_not_stop_them(client, world):
    entry = await add_entry(client, world, "13955550013", who="community_admin")
    await client.post(
        f"/users/{entry['id']}/roles",
        json={"role": "info_officer", "org_id": world["C1"].id},
        headers=world.headers("community_admin"),
    )
    resp = await client.patch(
        f"/users/{entry['id']}",
        json={"phone": "13955550014"},
        headers=world.headers("community_admin"),
    )
    assert resp.status_code == 200


async def test_a_phone_change_unbinds_the_person_and_ends_their_tokens(client, world):
    entry = await add_entry(client, world, "13955550015")
    first = await login(client, "o-changed")
    bound = (await bind(client, first["access_token"], "13955550015")).json()

    resp = await client.patch(
        f"/users/{entry['id']}",
        json={"phone": "13955550016"},
        headers=world.headers("community_admin"),
    )
    assert resp.status_code == 200
    assert resp.json()["wechat_bound"] is False
    for token in (first["access_token"], bound["access_token"]):
        assert (await client.get("/me", headers=bearer(token))).status_code == 401
    (moved,) = await audit_entries(world.app, "roster.identity_change")
    assert json.loads(moved.detail or "{}")["unbound"] is True
    # The WeChat account proved the old phone only: it binds again with the new one.
    again = await login(client, "o-changed")
    assert again["user"]["id"] != entry["id"]
    rebound = await bind(client, again["access_token"], "13955550016")
    assert rebound.status_code == 200 and rebound.json()["id"] == entry["id"]


# --- 3. What the first-login account made moves with it -------------------------------------


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


async def test_binding_after_the_first_login_account_uploaded_a_photo_moves_it(client, world):
    entry = await add_entry(client, world, "13955550020")
    first = await login(client, "o-uploader")
    account_id = first["user"]["id"]
    photo = await client.post(
        "/media",
        files={"file": ("p.jpg", _jpeg(), "image/jpeg")},
        headers=bearer(first["access_token"]),
    )
    assert photo.status_code == 201, photo.text
    account = User(id=account_id, name="微信用户")
    await make_media(world.app, account)
    async with world.app.state.sessionmaker() as session, session.begin():
        session.add(SubscribeGrant(user_id=account_id, template_id="tpl-a", balance=2))
        session.add(Message(user_id=account_id, kind="x", title="t", body="b"))
        # The entry already holds a grant of the same template: it is kept.
        session.add(SubscribeGrant(user_id=entry["id"], template_id="tpl-a", balance=5))

    resp = await bind(client, first["access_token"], "13955550020")
    assert resp.status_code == 200, resp.text

    async with world.app.state.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for fk in table.foreign_keys:
                if fk.column.table.name == "users":
                    left = await conn.execute(
                        select(func.count()).select_from(table).where(fk.parent == account_id)
                    )
                    assert left.scalar_one() == 0, f"{table.name}.{fk.parent.name}"
    mine = await client.get(f"/media/{photo.json()['id']}", headers=bearer(first["access_token"]))
    assert mine.status_code == 200
    async with world.app.state.sessionmaker() as session:
        grants = (await session.execute(select(SubscribeGrant))).scalars().all()
        assert [(g.user_id, g.balance) for g in grants] == [(entry["id"], 5)]
        tombstone = await session.get(User, account_id)
        assert tombstone is not None
        assert (tombstone.merged_into_id, tombstone.openid) == (entry["id"], None)


async def test_tombstones_appear_in_no_roster_and_no_count(client, world):
    await add_entry(client, world, "13955550021")
    first = await login(client, "o-tomb")
    before = (await client.get("/users", headers=world.headers("district_admin"))).json()
    assert (await bind(client, first["access_token"], "13955550021")).status_code == 200
    after = (await client.get("/users", headers=world.headers("district_admin"))).json()
    assert after["total"] == before["total"]
    listed = await client.get(
        f"/users/{first['user']['id']}", headers=world.headers("district_admin")
    )
    assert listed.status_code == 404


# --- 4. Parallel binds -----------------------------------------------------------------------


async def test_parallel_binds_of_different_phones_from_one_account_answer_409_not_500(
    client, world
):
    for round_ in range(4):
        phones = [f"1395556{round_}0{i}0" for i in range(2)]
        for phone in phones:
            await add_entry(client, world, phone)
        first = await login(client, f"o-twice-{round_}")
        answers = await asyncio.gather(*(bind(client, first["access_token"], p) for p in phones))
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        (lost,) = [a for a in answers if a.status_code == 409]
        assert lost.json()["code"] == "account_already_bound"


@pytest.mark.pooled
async def test_two_accounts_binding_two_entries_of_one_phone_at_once_bind_one(client, world):
    await add_entry(client, world, "13955557001", who="street_admin", org="C1")
    await add_entry(client, world, "13955557001", who="other_street_admin", org="C3")
    async with world.app.state.sessionmaker() as session:
        ids = [
            u.id
            for u in (await session.execute(select(User).order_by(User.id))).scalars()
            if u.phone_masked == "139****7001"
        ]
    accounts = [await login(client, f"o-pair-{i}") for i in range(2)]
    answers = await asyncio.gather(
        *(
            bind(client, a["access_token"], "13955557001", user_id=i)
            for a, i in zip(accounts, ids, strict=True)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"phone_already_bound"}


async def test_the_database_refuses_a_second_bound_entry_for_a_phone(world):
    phone = "13955557002"
    await make_user(world.app, "甲", community=world["C1"], phone=phone)
    with pytest.raises(IntegrityError):
        await make_user(world.app, "乙", community=world["C3"], phone=phone)


# --- 6. Nothing outside reach is revealed ----------------------------------------------------


async def test_a_phone_on_a_roster_outside_reach_neither_blocks_nor_shows(client, world):
    theirs = await add_entry(client, world, "13955558001", who="other_street_admin", org="C3")
    mine = await add_entry(client, world, "13955558001", who="community_admin", org="C1")
    assert mine["id"] != theirs["id"]
    # Changing a phone to one on another roster is as unremarkable.
    # Changing a phone to one on another roster is as unremarkable; inside reach the
    # duplicate is refused as before.
    await add_entry(client, world, "13955558002", who="other_street_admin", org="C3")
    other = await add_entry(client, world, "13955558006", who="community_admin", org="C1")
    for phone, status in (("13955558002", 200), ("13955558001", 409)):
        moved = await client.patch(
            f"/users/{other['id']}", json={"phone": phone}, headers=world.headers("community_admin")
        )
        assert moved.status_code == status, moved.text
    assert moved.json()["code"] == "phone_exists"
    # An import by the community admin lands the phone of the other street too.
    csv = "姓名,手机号,社区\n王五,13955558003,东关社区\n".encode()
    await add_entry(client, world, "13955558003", who="other_street_admin", org="C3")
    imported = await client.post(
        "/users/import",
        files={"file": ("r.csv", csv, "text/csv")},
        headers=world.headers("community_admin"),
    )
    assert imported.json() == {"created": 1, "updated": 0, "errors": []}


async def test_a_phone_in_reach_twice_is_refused_by_the_admin_over_both(client, world):
    await add_entry(client, world, "13955558004", who="community_admin", org="C1")
    await add_entry(client, world, "13955558004", who="other_street_admin", org="C3")
    again = await client.post(
        "/users",
        json={"name": "丙", "phone": "13955558004", "community_id": world["C2"].id},
        headers=world.headers("district_admin"),
    )
    assert again.status_code == 409 and again.json()["code"] == "phone_exists"


async def test_a_phone_on_several_rosters_asks_its_owner_which_entry_is_theirs(client, world):
    east = await add_entry(client, world, "13955558005", who="community_admin", org="C1")
    west = await add_entry(client, world, "13955558005", who="other_street_admin", org="C3")
    first = await login(client, "o-choosing")
    asked = await bind(client, first["access_token"], "13955558005")
    assert asked.status_code == 409
    body = asked.json()
    assert body["code"] == "phone_on_several_rosters"
    assert body["choices"] == [
        {"user_id": east["id"], "community_name": "东关社区"},
        {"user_id": west["id"], "community_name": "西湖社区"},
    ]
    chosen = await bind(client, first["access_token"], "13955558005", user_id=west["id"])
    assert chosen.status_code == 200 and chosen.json()["id"] == west["id"]
    # The phone is now someone's WeChat identity: its other entry binds nobody else.
    second = await login(client, "o-second-owner")
    refused = await bind(client, second["access_token"], "13955558005", user_id=east["id"])
    assert refused.status_code == 409 and refused.json()["code"] == "phone_already_bound"


# --- 7. API keys outlive their issuer, listed for review -----------------------------------


async def test_a_revoked_issuers_keys_keep_working_and_are_listed_first_for_review(client, world):
    district = world.headers("district_admin")
    body = {"name": "大屏", "org_id": world["D"].id, "scopes": ["read:tasks"]}
    own = (await client.post("/api-keys", json=body, headers=district)).json()
    body = {"name": "12345 热线", "org_id": world["S1"].id, "scopes": ["read:tasks"]}
    issued = await client.post("/api-keys", json=body, headers=world.headers("street_admin"))
    key = issued.json()
    assert key["issuer_active"] is True

    street_admin = world.user("street_admin")
    me = (await client.get("/me", headers=world.headers("street_admin"))).json()
    (grant,) = me["roles"]
    revoked = await client.delete(f"/users/{street_admin.id}/roles/{grant['id']}", headers=district)
    assert revoked.status_code == 204
    (entry,) = await audit_entries(world.app, "role.revoke")
    assert json.loads(entry.detail or "{}")["api_keys_to_review"] == 1

    reads = await client.get("/tasks", headers={"X-API-Key": key["key"]})
    assert reads.status_code == 200
    listed = (await client.get("/api-keys", headers=district)).json()
    assert [(k["id"], k["issuer_active"]) for k in listed["items"]] == [
        (key["id"], False),
        (own["id"], True),
    ]
    assert listed["items"][0]["created_by_id"] == street_admin.id
    waiting = await client.get("/api-keys", params={"issuer_revoked": "true"}, headers=district)
    assert [k["id"] for k in waiting.json()["items"]] == [key["id"]]
    others = await client.get("/api-keys", params={"issuer_revoked": "false"}, headers=district)
    assert [k["id"] for k in others.json()["items"]] == [own["id"]]


async def test_an_issuer_still_holding_a_role_above_the_key_stays_active(client, world):
    street_admin = world.user("street_admin")
    await client.post(
        f"/users/{street_admin.id}/roles",
        json={"role": "district_admin", "org_id": world["D"].id},
        headers=world.headers("district_admin"),
    )
    body = {"name": "12345 热线", "org_id": world["C1"].id, "scopes": ["read:tasks"]}
    await client.post("/api-keys", json=body, headers=world.headers("street_admin"))
    me = (await client.get("/me", headers=world.headers("street_admin"))).json()
    street_grant = next(r for r in me["roles"] if r["role"] == Role.street_admin)
    await client.delete(
        f"/users/{street_admin.id}/roles/{street_grant['id']}",
        headers=world.headers("district_admin"),
    )
    listed = (await client.get("/api-keys", headers=world.headers("district_admin"))).json()
    assert [k["issuer_active"] for k in listed["items"]] == [True]
    (entry,) = await audit_entries(world.app, "role.revoke")
    assert json.loads(entry.detail or "{}")["api_keys_to_review"] == 0
