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
        await seed_demo(session, app.state.cipher)
    with BackgroundServer(app) as server:
        app.state.wechat.client.api_base = server.url + "dev/wechat/"
        async with httpx.AsyncClient(base_url=server.url) as c:
            login = await c.post("/api/v1/auth/wechat-login", json={"code": "demo-district-admin"})
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            orgs = await c.get("/api/v1/orgs", headers={"Authorization": f"Bearer {token}"})
            assert orgs.json()["total"] >= 10
            # Demo codes may be reused, unlike in tests, so the demo can log in again.
            again = await c.post("/api/v1/auth/wechat-login", json={"code": "demo-district-admin"})
            assert again.status_code == 200


def test_the_stub_is_not_mounted_unless_asked(tmp_path):
    app = create_app(make_settings("sqlite://", tmp_path, "http://127.0.0.1:9/"))
    assert not hasattr(app.state, "wechat_stub")
