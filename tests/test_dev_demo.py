"""What `make run` serves: the demo district and a WeChat stub the demo people log in through."""

import httpx

from app.cli import seed_demo
from app.main import create_app
from tests.conftest import make_settings, run_migrations
from tests.support.servers import BackgroundServer


async def test_the_demo_logs_in_through_the_mounted_wechat_stub(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    run_migrations(url)
    # The port is only known once the server listens, so the base is set after start.
    settings = make_settings(
        url, tmp_path, "http://127.0.0.1:9/", app_env="dev", wechat_dev_stub=True
    )
    app = create_app(settings)
    async with app.state.sessionmaker() as session, session.begin():
        seeded = await seed_demo(session, app.state.cipher, app.state.storage)
    assert (seeded["inspections"], seeded["reports"], seeded["redemptions"]) == (2, 1, 1)
    assert (seeded["survey_responses"], seeded["household_visits"]) == (24, 9)
    with BackgroundServer(app) as server:
        app.state.wechat.client.api_base = server.url + "dev/wechat/"
        async with httpx.AsyncClient(base_url=server.url) as c:
            login = await c.post("/api/v1/auth/wechat-login", json={"code": "demo-district-admin"})
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            orgs = await c.get("/api/v1/orgs", headers=auth)
            assert orgs.json()["total"] >= 10
            # Every screen has something in it: visits with their photos, a report.
            visits = (await c.get("/api/v1/inspections", headers=auth)).json()["items"]
            assert len(visits) == 2
            assert {v["meets_standard"] for v in visits} == {True, False}
            photo = visits[0]["photo_ids"][0]
            shown = await c.get(f"/api/v1/media/{photo}/thumbnail", headers=auth)
            assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
            # The routine article carries the demo's short video, served as MP4.
            listed = (await c.get("/api/v1/articles", headers=auth)).json()["items"]
            (clip,) = [a["photo_ids"][0] for a in listed if a["photo_ids"]]
            video = await c.get(f"/api/v1/media/{clip}", headers=auth)
            assert video.headers["content-type"] == "video/mp4", video.text
            reports = (await c.get("/api/v1/reports", headers=auth)).json()["items"]
            assert [r["status"] for r in reports] == ["submitted"]
            assert not any(v.get("possible_reuse") for v in visits)
            # The monthly ranking is scored, and the office has commented on it.
            district = {"org_id": seeded["district_id"]}
            scores = (await c.get("/api/v1/stats/scores", params=district, headers=auth)).json()
            assert scores["weights"] and scores["items"][0]["score"] is not None
            reviews = await c.get(
                "/api/v1/reviews", params={**district, "subtree": True}, headers=auth
            )
            assert reviews.json()["total"] == seeded["monthly_reviews"] == 2
            # Demo codes may be reused, unlike in tests, so the demo can log in again.
            again = await c.post("/api/v1/auth/wechat-login", json={"code": "demo-district-admin"})
            assert again.status_code == 200


def test_the_stub_is_not_mounted_unless_asked(tmp_path):
    app = create_app(make_settings("sqlite://", tmp_path, "http://127.0.0.1:9/"))
    assert not hasattr(app.state, "wechat_stub")


async def test_make_run_users_log_in_to_the_console_without_a_phone(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    run_migrations(url)
    settings = make_settings(
        url, tmp_path, "http://127.0.0.1:9/", app_env="dev", wechat_dev_stub=True
    )
    app = create_app(settings)
    async with app.state.sessionmaker() as session, session.begin():
        await seed_demo(session, app.state.cipher)
    with BackgroundServer(app) as server:
        app.state.wechat.client.api_base = server.url + "dev/wechat/"
        # The console's cookies are Secure: the browser here speaks HTTPS to the app.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://demo") as browser:
            page = await browser.get("/console/login", headers={"Accept": "text/html"})
            assert page.status_code == 200 and "开发环境" in page.text
            ticket = page.text.split('name="ticket" value="', 1)[1].split('"', 1)[0]
            user_id = page.text.split('<option value="', 1)[1].split('"', 1)[0]
            resp = await browser.post(
                "/console/dev-login", data={"ticket": ticket, "user_id": user_id}
            )
            assert resp.status_code == 303, resp.text
            home = await browser.get("/console/", headers={"Accept": "text/html"})
            assert home.status_code == 200 and "待办事项" in home.text


def test_the_console_dev_login_exists_only_in_dev(tmp_path):
    app = create_app(make_settings("sqlite://", tmp_path, "http://127.0.0.1:9/"))
    assert all(getattr(r, "path", "") != "/console/dev-login" for r in app.routes)
