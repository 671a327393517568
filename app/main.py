"""The FastAPI application: routers, error handlers, shared clients.

Served with `uvicorn --factory app.main:create_app`: settings are read when the
process starts, not when the module is imported.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.core.accesslog import AccessLogMiddleware
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.errors import install_error_handlers
from app.core.http import App, install_http_headers
from app.core.metrics import install_metrics
from app.core.ratelimit import RateLimiter
from app.core.replica import Replica
from app.core.route_templates import screen_included_routers
from app.core.security import PiiCipher
from app.core.storage import create_storage
from app.core.wechat import WeChatGateway
from app.jobs import Jobs
from app.routers import (
    api_keys,
    articles,
    audit,
    auth,
    console,
    console_assessment,
    console_volunteers,
    dashboard,
    dashboard_view,
    documents,
    exports,
    health,
    household_visits,
    indicators,
    inspections,
    media,
    notifications,
    orgs,
    pairings,
    points,
    problems,
    publicity,
    report_ins,
    reports,
    scoring,
    service_orders,
    surveys,
    tasks,
    teams,
    users,
    volunteer_hours,
    volunteers,
    wechat_callback,
    wishes,
)
from app.services.gauges import BusinessGauges

API_PREFIX = "/api/v1"

DESCRIPTION = """创文通后端：机关党员到社区报到、认领微心愿、记录志愿时长；
社区、街道、区各级按管理范围查看和排名；第三方系统凭 API Key 读取数据。

错误一律为 `application/problem+json`，其中 `code` 是供程序判断的稳定字符串。"""


def _operation_id(route: APIRoute) -> str:
    # The function name: short, stable, and what generated clients call the method.
    return route.name


# Libraries whose DEBUG records carry personal data or secrets: aiosqlite logs every
# statement with its parameters, urllib3 (under wechatpy) every WeChat URL with the
# app secret, access token and login code. They stay at WARNING, as SQLAlchemy keeps
# itself, so a root logger at DEBUG shows ours; naming one in a logging config still
# turns it on.
CHATTY_LIBRARIES = ("aiosqlite", "urllib3")


def _quiet_chatty_libraries() -> None:
    for name in CHATTY_LIBRARIES:
        library = logging.getLogger(name)
        if library.level == logging.NOTSET:
            library.setLevel(logging.WARNING)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    _quiet_chatty_libraries()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What startup built (modules, tables, compiled statements, routes) lives as
        # long as the process: frozen, the collector's full passes stop walking it.
        # The check-in load run's p99 at 16 clients, median of runs: 113 ms -> 67 ms
        # (docs/PERFORMANCE.md).
        gc.freeze()
        async with app.state.jobs.running():
            yield
        await app.state.engine.dispose()
        await app.state.replica.dispose()

    app = App(
        title="创文通 chuangwen",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    engine = create_engine(settings)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.cipher = PiiCipher(settings.pii_key)
    app.state.wechat = WeChatGateway(settings)
    app.state.storage = create_storage(settings)
    app.state.ratelimiter = RateLimiter(settings)
    # The job queue; every session of the app's sessionmaker hands its notifications to it.
    app.state.jobs = Jobs(
        settings,
        sessionmaker=app.state.sessionmaker,
        wechat=app.state.wechat,
        storage=app.state.storage,
    )

    install_error_handlers(app)
    app.state.business_gauges = BusinessGauges(install_metrics(app))
    app.state.replica = Replica(settings, app.state.metrics_registry)
    install_http_headers(app, settings)
    # Outermost, so it sees every answer, the last-resort 500 included.
    app.add_outer_middleware(AccessLogMiddleware)
    app.include_router(health.router)
    for module in (
        auth,
        orgs,
        users,
        media,
        documents,
        tasks,
        report_ins,
        wishes,
        pairings,
        volunteer_hours,
        volunteers,
        teams,
        service_orders,
        points,
        problems,
        inspections,
        reports,
        surveys,
        household_visits,
        indicators,
        articles,
        publicity,
        scoring,
        api_keys,
        dashboard,
        dashboard_view,
        exports,
        audit,
        notifications,
        wechat_callback,
    ):
        app.include_router(module.router, prefix=API_PREFIX)

    # The PC console is a site of its own at /console/, beside the API.
    app.include_router(console.router)
    app.include_router(console_assessment.router)
    app.include_router(console_volunteers.router)
    if settings.app_env == "dev":
        app.include_router(console.dev)
    screen_included_routers(app)

    if settings.wechat_dev_stub and settings.app_env != "prod":
        from app.devtools.wechat_stub import StubState, create_stub_app

        app.state.wechat_stub = StubState(
            appid=settings.wechat_appid, secret=settings.wechat_secret, reject_reused_codes=False
        )
        app.mount("/dev/wechat", create_stub_app(app.state.wechat_stub))
    return app
