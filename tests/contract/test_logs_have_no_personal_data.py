"""Personal data never reaches the logs, whatever the log level.

Realistic flows run with the root logger at DEBUG and a handler that sees the records
of every logger (the app's, uvicorn's, SQLAlchemy's, wechatpy's, urllib3's...); no
phone number, openid or beneficiary name may appear in a formatted message, its
exception text or its extra fields, and no secret or token either.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core.security import issue_access_token
from app.devtools.wechat_stub import StubState
from app.main import create_app
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    WECHAT_SECRET,
    _admin,
    _postgres_available,
    make_settings,
)

# Distinctive values, so a hit in the logs can only be one of them.
ROSTER_PHONE = "13512340001"
IMPORTED_PHONES = ("13512340002", "13512340003")
BAD_PHONE = "135123400x9"
BENEFICIARY_NAME = "欧阳秀珍"
BENEFICIARY_PHONE = "13512340005"
OPENID = "o-pii-7f3a9c"
NEWCOMER_OPENID = "o-pii-newcomer-51be"
PERSONAL = (
    ROSTER_PHONE,
    *IMPORTED_PHONES,
    BAD_PHONE,
    BENEFICIARY_NAME,
    BENEFICIARY_PHONE,
    OPENID,
    NEWCOMER_OPENID,
)
# The attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class EveryRecord(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        out = []
        for record in self.records:
            extra = {k: v for k, v in vars(record).items() if k not in _STANDARD}
            out.append(f"{self.format(record)} {extra!r}")
        return out

    def leaks(self, *secrets: str) -> list[tuple[str, str]]:
        values = [*PERSONAL, *secrets]
        return [(value, text) for text in self.texts() for value in values if value in text]


@contextmanager
def every_logger_at_debug() -> Iterator[EveryRecord]:
    """The root logger at DEBUG, as an operator chasing a problem would set it, and one
    handler that sees the records of every logger, propagating or not.

    Libraries keep the levels they give themselves (SQLAlchemy's own WARN) or the app
    gives them; turning on a library's debug output by name is asking for its data.
    """
    handler = EveryRecord()
    root = logging.getLogger()
    loggers = [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    # uvicorn's access log, for one, does not propagate to the root.
    own = [lg for lg in loggers if not lg.propagate]
    saved = root.level
    root.setLevel(logging.DEBUG)
    for lg in [root, *own]:
        lg.addHandler(handler)
    try:
        yield handler
    finally:
        for lg in [root, *own]:
            lg.removeHandler(handler)
        root.setLevel(saved)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_logins_roster_wishes_and_refusals_log_no_personal_data(client, world, stub):
    admin = world.headers("community_admin")
    community = world["C1"].id
    with every_logger_at_debug() as logs:
        # A roster entry, then the person logs in with WeChat and binds that phone.
        added = await client.post(
            "/users",
            json={
                "name": "钱多多",
                "phone": ROSTER_PHONE,
                "community_id": community,
                "is_party_member": True,
            },
            headers=admin,
        )
        assert added.status_code == 201, added.text
        login = await client.post("/auth/wechat-login", json={"code": f"{OPENID}#1"})
        assert login.status_code == 200
        token = login.json()["access_token"]
        bound = await client.post(
            "/auth/bind-phone", json={"code": f"{ROSTER_PHONE}#1"}, headers=bearer(token)
        )
        assert bound.status_code == 200, bound.text
        me = await client.get("/me", headers=bearer(bound.json()["access_token"]))
        assert me.json()["phone"] == ROSTER_PHONE

        # Refusals that carry personal data in the request.
        again = await client.post(
            "/users",
            json={
                "name": "重复",
                "phone": ROSTER_PHONE,
                "community_id": community,
                "is_party_member": False,
            },
            headers=admin,
        )
        assert again.json()["code"] == "phone_exists"
        malformed = await client.post(
            "/users",
            json={
                "name": "坏号码",
                "phone": BAD_PHONE,
                "community_id": community,
                "is_party_member": False,
            },
            headers=admin,
        )
        assert malformed.status_code == 422
        unbound = await client.post(
            "/auth/bind-phone", json={"code": f"{IMPORTED_PHONES[1]}#9"}, headers=admin
        )
        assert unbound.status_code in (404, 409)
        stub.forced_errors["sns/jscode2session"] = [-1]
        outage = await client.post("/auth/wechat-login", json={"code": f"{OPENID}#2"})
        assert outage.status_code == 503

        # A roster import with good and bad phones.
        csv = (
            "姓名,手机号,社区,是否党员\n"
            f"孙一,{IMPORTED_PHONES[0]},{community},是\n"
            f"孙二,{IMPORTED_PHONES[1]},{community},否\n"
            f"孙三,{BAD_PHONE},{community},是\n"
        )
        imported = await client.post(
            "/users/import", files={"file": ("r.csv", csv.encode())}, headers=admin
        )
        assert (imported.json()["created"], len(imported.json()["errors"])) == (2, 1)

        # A wish for a named beneficiary, seen, claimed and listed.
        wish = await client.post(
            "/wishes",
            json={
                "title": "买米",
                "description": "十斤大米",
                "community_id": community,
                "beneficiary_name": BENEFICIARY_NAME,
                "beneficiary_phone": BENEFICIARY_PHONE,
            },
            headers=admin,
        )
        assert wish.status_code == 201, wish.text
        wid = wish.json()["id"]
        bad_wish = await client.post(
            "/wishes",
            json={
                "title": "买油",
                "description": "一桶油",
                "community_id": community,
                "beneficiary_name": BENEFICIARY_NAME,
                "beneficiary_phone": BAD_PHONE,
            },
            headers=admin,
        )
        assert bad_wish.status_code == 422
        member = world.headers("member")
        assert (await client.post(f"/wishes/{wid}/claim", headers=member)).status_code == 200
        listed = await client.get("/wishes", headers=member)
        assert BENEFICIARY_NAME in listed.text
        exported = await client.get(
            "/exports/wishes.xlsx", params={"org_id": community}, headers=admin
        )
        assert exported.status_code == 200

    assert logs.records, "the capture saw nothing: the test would pass vacuously"
    # Nor the credentials that went by: the app's WeChat secret and access token,
    # its signing and encryption keys, the tokens it handed out.
    settings = world.app.state.settings
    credentials = (WECHAT_SECRET, stub.token, settings.jwt_secret, settings.pii_key, token)
    assert logs.leaks(*credentials) == []


async def test_a_first_login_racing_itself_logs_no_openid(client):
    codes = [f"{NEWCOMER_OPENID}#{i}" for i in range(4)]
    with every_logger_at_debug() as logs:
        answers = await asyncio.gather(
            *(client.post("/auth/wechat-login", json={"code": c}) for c in codes)
        )
    assert {a.json()["user"]["id"] for a in answers if a.status_code == 200}
    assert logs.leaks() == []


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nobody ran `alembic upgrade` on: the deploy step that gets forgotten."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'never-migrated.db'}"
        return
    if reason := _postgres_available():
        pytest.skip(reason)
    name = f"chuangwen_pii_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_database_errors_with_personal_data_in_their_sql_log_none_of_it(
    unmigrated_database: str, tmp_path: Path, wechat_stub: tuple[StubState, str]
):
    settings = make_settings(unmigrated_database, tmp_path, wechat_stub[1])
    app = create_app(settings)
    token = issue_access_token(settings, 1, 0).access_token
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        with every_logger_at_debug() as logs:
            async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
                login = await c.post(
                    "/auth/wechat-login", json={"code": f"{OPENID}#{uuid.uuid4().hex}"}
                )
                added = await c.post(
                    "/users",
                    json={
                        "name": "钱多多",
                        "phone": ROSTER_PHONE,
                        "community_id": 1,
                        "is_party_member": True,
                    },
                    headers=bearer(token),
                )
        # No table answers: whatever the status, it is problem+json, not a traceback.
        for resp in (login, added):
            assert resp.status_code >= 500, (resp.request.url, resp.text)
            assert resp.headers["content-type"].startswith("application/problem+json")
            assert "Traceback" not in resp.text and "SELECT" not in resp.text
        errors = [r for r in logs.records if r.levelno >= logging.ERROR]
        assert errors
        # The log keeps what an operator needs: a 500 comes with its traceback (there
        # the SQL is, with its parameters hidden), a 503 with the error's type.
        for record in errors:
            if record.getMessage().startswith("unhandled error"):
                assert record.exc_info and record.exc_info[0] is not None
                assert "SQL parameters hidden" in logs.format(record)
        assert logs.leaks() == []
    finally:
        await app.state.engine.dispose()
