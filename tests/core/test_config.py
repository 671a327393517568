"""Settings fail fast in production and pick async drivers for plain URLs."""

import pytest
from pydantic import ValidationError

from app.core.config import Settings, to_async_url

GOOD_PROD = {
    "app_env": "prod",
    "jwt_secret": "x" * 40,
    "pii_key": "y" * 40,
    "wechat_appid": "wx123",
    "wechat_secret": "s3cret",
}


def test_plain_urls_get_async_drivers():
    assert to_async_url("sqlite:///./var/app.db") == "sqlite+aiosqlite:///./var/app.db"
    assert to_async_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert to_async_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert to_async_url("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg://u@h/db"


def test_production_starts_with_real_secrets():
    Settings(_env_file=None, **GOOD_PROD)


@pytest.mark.parametrize("field", ["jwt_secret", "pii_key"])
def test_production_refuses_placeholder_secrets(field):
    values = {**GOOD_PROD}
    values.pop(field)
    with pytest.raises(ValidationError, match=field.upper()):
        Settings(_env_file=None, **values)


def test_production_refuses_the_wechat_stub():
    with pytest.raises(ValidationError, match="WECHAT_DEV_STUB"):
        Settings(_env_file=None, **GOOD_PROD, wechat_dev_stub=True)


def test_production_needs_wechat_credentials():
    values = {**GOOD_PROD, "wechat_secret": ""}
    with pytest.raises(ValidationError, match="WECHAT_APPID"):
        Settings(_env_file=None, **values)
