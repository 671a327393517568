"""POST /auth/wechat-login, POST /auth/bind-phone and GET /me against the WeChat stub."""

import jwt

from app.models.org import OrgLevel
from app.models.user import Role
from tests.factories.orgs import make_org
from tests.factories.users import auth, make_user


async def login(client, code):
    return await client.post("/auth/wechat-login", json={"code": code})


async def test_unknown_openid_gets_a_new_account_with_no_community_and_no_roles(client, stub):
    resp = await login(client, "o-newcomer#1")
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert body["user"]["community_id"] is None
    assert body["user"]["roles"] == []
    assert body["user"]["phone_masked"] is None
    me = await client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]


async def test_login_twice_with_the_same_wechat_account_is_the_same_person(client):
    first = (await login(client, "o-same#1")).json()
    second = (await login(client, "o-same#2")).json()
    assert first["user"]["id"] == second["user"]["id"]


async def test_jscode2session_is_called_without_fetching_an_access_token(client, stub):
    assert (await login(client, "o-quiet#1")).status_code == 200
    assert stub.count("sns/jscode2session") == 1
    assert stub.count("cgi-bin/stable_token") == 0


async def test_invalid_code_is_401_wechat_login_failed(client):
    resp = await login(client, "invalid-code")
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "wechat_login_failed"
    assert resp.json()["status"] == 401


async def test_reused_code_is_401_wechat_login_failed(client):
    assert (await login(client, "o-reuse#1")).status_code == 200
    resp = await login(client, "o-reuse#1")
    assert resp.status_code == 401
    assert resp.json()["code"] == "wechat_login_failed"


async def test_wechat_outage_is_503_not_500(client, stub):
    stub.forced_errors["sns/jscode2session"] = [-1]
    resp = await login(client, "o-busy#1")
    assert resp.status_code == 503
    assert resp.json()["code"] == "wechat_unavailable"


async def test_empty_code_is_a_validation_error(client):
    resp = await client.post("/auth/wechat-login", json={"code": ""})
    assert resp.status_code == 422
    body = resp.json()
    assert body["code"] == "validation_error"
    assert body["errors"][0]["loc"] == ["body", "code"]


async def test_token_carries_the_user_id_and_expires(client, db):
    body = (await login(client, "o-claims#1")).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == str(body["user"]["id"])
    assert claims["ver"] == 0
    assert claims["exp"] - claims["iat"] == db.state.settings.access_token_ttl_s
    assert "roles" not in claims


async def test_me_without_token_or_with_a_forged_one_is_401(client):
    assert (await client.get("/me")).json()["code"] == "not_authenticated"
    forged = jwt.encode(
        {"sub": "1", "aud": "chuangwen", "exp": 9999999999},
        "not-our-secret-but-long-enough-for-hs256",
    )
    resp = await client.get("/me", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status_code == 401
    assert resp.json()["code"] == "not_authenticated"


async def _roster_entry(db, phone="13912345678"):
    d = await make_org(db, "区", OrgLevel.district)
    s = await make_org(db, "街道", OrgLevel.street, d)
    c = await make_org(db, "社区", OrgLevel.community, s)
    user = await make_user(db, "花名册人员", community=c, phone=phone, openid=None, party=True)
    return user, c


async def test_bind_phone_makes_the_account_the_roster_entry(client, db, stub):
    roster, community = await _roster_entry(db)
    first = (await login(client, "o-binder#1")).json()
    headers = {"Authorization": f"Bearer {first['access_token']}"}

    resp = await client.post("/auth/bind-phone", json={"code": "13912345678#1"}, headers=headers)

    assert resp.status_code == 200
    bound = resp.json()
    assert bound["id"] == roster.id
    assert bound["community_id"] == community.id
    assert bound["phone"] == "13912345678"
    assert bound["phone_masked"] == "139****5678"
    new_headers = {"Authorization": f"Bearer {bound['access_token']}"}
    assert (await client.get("/me", headers=new_headers)).json()["id"] == roster.id
    # The empty account is merged away: its login token now acts as the roster entry.
    assert (await client.get("/me", headers=headers)).json()["id"] == roster.id
    # Logging in again with the same WeChat account now lands on the roster entry.
    again = (await login(client, "o-binder#2")).json()
    assert again["user"]["id"] == roster.id
    # The phone API is called with the token that stable_token handed out.
    assert stub.count("cgi-bin/stable_token") == 1
    phone_call = next(c for p, c in stub.calls if p == "wxa/business/getuserphonenumber")
    assert phone_call["access_token"] == stub.token


async def test_bind_phone_with_no_roster_entry_is_404_not_on_roster(client):
    token = (await login(client, "o-stranger#1")).json()["access_token"]
    resp = await client.post(
        "/auth/bind-phone",
        json={"code": "13700000000#1"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 404
    assert resp.json()["code"] == "not_on_roster"


async def test_bind_phone_already_bound_to_another_account_is_409(client, db):
    await _roster_entry(db)
    a = (await login(client, "o-first#1")).json()["access_token"]
    b = (await login(client, "o-second#1")).json()["access_token"]
    ok = await client.post(
        "/auth/bind-phone", json={"code": "13912345678#1"}, headers={"Authorization": f"Bearer {a}"}
    )
    assert ok.status_code == 200
    resp = await client.post(
        "/auth/bind-phone", json={"code": "13912345678#2"}, headers={"Authorization": f"Bearer {b}"}
    )
    assert resp.status_code == 409
    assert resp.json()["code"] == "phone_already_bound"


async def test_bind_phone_with_a_bad_phone_code_is_401(client):
    token = (await login(client, "o-badphone#1")).json()["access_token"]
    resp = await client.post(
        "/auth/bind-phone", json={"code": "invalid"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 401
    assert resp.json()["code"] == "wechat_login_failed"


async def test_a_stale_access_token_is_refetched_once_not_forever(client, db, stub):
    await _roster_entry(db)
    token = (await login(client, "o-stale#1")).json()["access_token"]
    stub.forced_errors["wxa/business/getuserphonenumber"] = [40001]
    resp = await client.post(
        "/auth/bind-phone",
        json={"code": "13912345678#1"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200
    assert stub.count("wxa/business/getuserphonenumber") == 2


async def test_a_persistent_40001_ends_in_a_clear_error_not_a_loop(client, db, stub):
    await _roster_entry(db)
    token = (await login(client, "o-stale2#1")).json()["access_token"]
    stub.forced_errors["wxa/business/getuserphonenumber"] = [40001] * 50
    resp = await client.post(
        "/auth/bind-phone",
        json={"code": "13912345678#1"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 401
    assert stub.count("wxa/business/getuserphonenumber") == 2


async def test_me_shows_the_whole_phone_only_to_its_owner(client, world):
    me = (await client.get("/me", headers=world.headers("member"))).json()
    assert me["phone"] is not None and len(me["phone"]) == 11
    assert me["phone_masked"] == me["phone"][:3] + "****" + me["phone"][-4:]
    seen_by_admin = (
        await client.get(
            f"/users/{world.user('member').id}", headers=world.headers("community_admin")
        )
    ).json()
    assert "phone" not in seen_by_admin
    assert seen_by_admin["phone_masked"] == me["phone_masked"]


async def test_me_lists_roles_with_their_org(client, world):
    me = (await client.get("/me", headers=world.headers("street_admin"))).json()
    assert [(r["role"], r["org_id"]) for r in me["roles"]] == [
        (Role.street_admin.value, world["S1"].id)
    ]


async def test_me_lists_every_role_in_grant_order_as_an_admin_reads_them(client, world):
    """GET /me takes the roles from the caller it already read; they are the person's
    roles as GET /users/{id} reads them, every one, in the order granted."""
    person = await make_user(
        world.app,
        "多角色",
        community=world["C1"],
        roles=[
            (Role.inspector, world["S1"]),
            (Role.community_admin, world["C1"]),
            (Role.info_officer, world["C2"]),
        ],
    )
    me = (await client.get("/me", headers=auth(world.app, person))).json()
    assert [(r["role"], r["org_id"]) for r in me["roles"]] == [
        (Role.inspector.value, world["S1"].id),
        (Role.community_admin.value, world["C1"].id),
        (Role.info_officer.value, world["C2"].id),
    ]
    as_read = (
        await client.get(f"/users/{person.id}", headers=world.headers("district_admin"))
    ).json()
    assert me["roles"] == as_read["roles"]
    assert {k: v for k, v in me.items() if k != "phone"} == as_read
