"""Idempotency-Key on creating POSTs: phones resend when the network drops."""

import asyncio

import pytest
from fastapi import Request
from sqlalchemy import func, select, text

from app.core.security import PiiCipher
from app.edge.idempotency import path_and_query
from app.models.user import User
from tests.factories.users import make_user


def body(world, **kw):
    b = {
        "name": "重发测试",
        "phone": "13822223333",
        "community_id": world["C1"].id,
        "is_party_member": True,
    }
    b.update(kw)
    return b


async def count_users(world):
    async with world.app.state.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(User))).scalar_one()


async def test_a_retried_create_returns_the_first_response_and_creates_nothing_new(client, world):
    h = {
        **world.headers("community_admin"),
        "Idempotency-Key": "9c1e6a1e-0000-4000-8000-000000000001",
    }
    before = await count_users(world)
    first = await client.post("/users", json=body(world), headers=h)
    second = await client.post("/users", json=body(world), headers=h)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert await count_users(world) == before + 1


async def test_the_same_key_with_another_body_is_422_idempotency_key_reused(client, world):
    h = {**world.headers("community_admin"), "Idempotency-Key": "key-2"}
    await client.post("/users", json=body(world), headers=h)
    resp = await client.post("/users", json=body(world, name="另一个"), headers=h)
    assert resp.status_code == 422
    assert resp.json()["code"] == "idempotency_key_reused"


async def test_keys_belong_to_their_caller(client, world):
    key = {"Idempotency-Key": "shared-key"}
    a = await client.post(
        "/users", json=body(world), headers={**world.headers("community_admin"), **key}
    )
    b = await client.post(
        "/users",
        json=body(world, phone="13822224444"),
        headers={**world.headers("street_admin"), **key},
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_a_refused_request_is_not_remembered(client, world):
    h = {**world.headers("community_admin"), "Idempotency-Key": "key-fix"}
    bad = await client.post("/users", json=body(world, phone="123"), headers=h)
    assert bad.status_code == 422
    # The user corrects the form and sends again under the same key: a new request.
    fixed = await client.post("/users", json=body(world), headers=h)
    assert fixed.status_code == 201
    replay = await client.post("/users", json=body(world), headers=h)
    assert replay.json() == fixed.json()


async def test_simultaneous_retries_create_exactly_one_record(client, world):
    h = {**world.headers("community_admin"), "Idempotency-Key": "burst"}
    before = await count_users(world)
    responses = await asyncio.gather(
        *(client.post("/users", json=body(world), headers=h) for _ in range(6))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_users(world) == before + 1


async def test_an_overlong_key_is_422(client, world):
    h = {**world.headers("community_admin"), "Idempotency-Key": "k" * 201}
    resp = await client.post("/users", json=body(world), headers=h)
    assert resp.status_code == 422


async def idempotency_table(app) -> str:
    async with app.state.engine.connect() as conn:
        return repr((await conn.execute(text("SELECT * FROM idempotency_records"))).all())


async def test_a_bind_phone_sent_with_a_key_keeps_no_phone_and_no_token_in_the_clear(client, world):
    db = world.app
    await make_user(db, "花名册人员", community=world["C1"], phone="13912345678", openid=None)
    login = await client.post("/auth/wechat-login", json={"code": "o-sealed#1"})
    h = {
        "Authorization": f"Bearer {login.json()['access_token']}",
        "Idempotency-Key": "bind-once",
    }
    bound = await client.post("/auth/bind-phone", json={"code": "13912345678#1"}, headers=h)
    assert bound.status_code == 200, bound.text
    assert bound.json()["phone"] == "13912345678"

    stored = await idempotency_table(db)
    assert "bind-once" in stored  # the record is there...
    assert "13912345678" not in stored  # ...and tells neither the phone
    assert bound.json()["access_token"] not in stored  # nor the token it answered
    assert "花名册人员" not in stored

    again = await client.post("/auth/bind-phone", json={"code": "13912345678#1"}, headers=h)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == bound.json()


async def test_an_answer_kept_under_another_pii_key_is_409_and_runs_nothing_again(client, world):
    h = {**world.headers("community_admin"), "Idempotency-Key": "before-rotation"}
    first = await client.post("/users", json=body(world), headers=h)
    assert first.status_code == 201
    before = await count_users(world)
    # PII_KEY changed since (or a row kept before answers were sealed): the request was
    # carried out, but its answer can no longer be read.
    sealed_elsewhere = PiiCipher("another-pii-key-0123456789abcdef0123").encrypt(first.text)
    async with world.app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE idempotency_records SET response_body = :b"), {"b": sealed_elsewhere}
        )
    retry = await client.post("/users", json=body(world), headers=h)
    assert retry.status_code == 409
    assert retry.json()["code"] == "idempotency_record_unreadable"
    assert await count_users(world) == before


@pytest.mark.parametrize(
    ("path", "query", "host"),
    [
        ("/api/v1/tasks/7/check-ins", b"", "127.0.0.1:8000"),
        ("/api/v1/wishes", b"status=open&page=2", "api.example.com"),
        ("/a b/中文/%41", "x=中&y=%E4%B8%AD".encode(), "example.com:443"),
        # Decoded from %3F, %23 and %5C: escaped again in the URL.
        ("/a?b#c\\d", b"q=1", "h"),
        ("//twice/slashed", b"", "h"),
        # What urlsplit would change, and hosts Starlette would not take.
        ("/tab\tand\nbreak", b"", "h"),
        ("/a", b"q=1#fragment", "h"),
        ("/a", b"q=\t1", "h"),
        ("/a", b"", "evil/host"),
        ("/a", b"", "h:99999"),
        ("/a", b"", "[::1]:8000"),
        ("/a", b"", None),
        ("", b"q=1", "h"),
    ],
)
def test_the_path_and_query_hashed_are_the_urls_as_starlette_reads_it(path, query, host):
    headers = [(b"host", host.encode())] if host is not None else []
    for server in [("testserver", 80), ("/run/app.sock", None)]:
        scope = {
            "type": "http",
            "method": "POST",
            "scheme": "http",
            "server": server,
            "path": path,
            "query_string": query,
            "headers": headers,
        }
        expected = Request(scope).url
        assert path_and_query(Request(scope)) == (expected.path, expected.query)
