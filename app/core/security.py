"""Access tokens, dashboard links and personal data at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import jwt
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.config import Settings
from app.core.errors import Unauthorized, Unprocessable

if TYPE_CHECKING:
    from app.models.user import User

JWT_ALGORITHM = "HS256"
JWT_AUDIENCE = "chuangwen"
# Ids and versions are 32-bit integer columns; a larger claim names nothing.
MAX_TOKEN_INT = 2**31 - 1


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


@dataclass(frozen=True)
class TokenClaims:
    """What an access token names: a users row and the token version it was issued
    under. Which person that makes the token act as, if any, is decided in one place:
    app.core.scope.acts_as."""

    user_id: int
    version: int


def issue_access_token(settings: Settings, user_id: int, version: int) -> IssuedToken:
    """A short-lived token that names the user and their token version, nothing else.

    Roles are deliberately not in the token: they are read from the database on
    every request, so a revoked role stops working at once. The version (the
    person's users.token_version when issued) lets every token of a person be
    ended at once ("log out everywhere", a change of phone or binding).
    """
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "ver": version,
        "aud": JWT_AUDIENCE,
        "iat": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl_s),
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, settings.jwt_secret, algorithm=JWT_ALGORITHM)
    return IssuedToken(access_token=token, expires_in=settings.access_token_ttl_s)


# Tokens whose signature and claims were checked, with their expiry: a phone sends
# the same token for up to two hours, and checking it again cost every request of
# theirs ~0.1 ms (HMAC, base64, JSON, the claims). Keyed by the secret too, so a token
# is only ever taken under the secret it was checked with; expiry is checked on every
# use. Bounded: the oldest entries go first.
_CHECKED: dict[tuple[str, str], tuple[TokenClaims, float]] = {}
_CHECKED_MAX = 10_000


def claims_of_token(settings: Settings, token: str) -> TokenClaims | None:
    """The claims of an access token we signed and that has not expired; None for
    anything else. Signed is not yet valid: see app.core.scope.acts_as."""
    key = (settings.jwt_secret, token)
    checked = _CHECKED.get(key)
    if checked is not None:
        claims, expires = checked
        if time.time() < expires:
            return claims
        del _CHECKED[key]
        return None
    found = _claims_checked(settings, token)
    if found is not None:
        if len(_CHECKED) >= _CHECKED_MAX:
            del _CHECKED[next(iter(_CHECKED))]
        _CHECKED[key] = found
        return found[0]
    return None


def _claims_checked(settings: Settings, token: str) -> tuple[TokenClaims, float] | None:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[JWT_ALGORITHM],
            audience=JWT_AUDIENCE,
            options={"require": ["exp", "sub", "aud", "ver"]},
        )
        user_id = int(claims["sub"])
        version = claims["ver"]
        expires = float(claims["exp"])
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if not isinstance(version, int) or isinstance(version, bool):
        return None
    if not (0 < user_id <= MAX_TOKEN_INT and 0 <= version <= MAX_TOKEN_INT):
        return None
    return TokenClaims(user_id=user_id, version=version), expires


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# --- dashboard links --------------------------------------------------------------
# A link to the dashboard page (app/services/dashboard_view) names an admin as an
# access token does (`sub`, `ver`: the same rule decides whom it acts as) and the org
# it opens, under an audience of its own: a link is no access token and an access
# token opens no page. app.edge.access.caller_for_view_link turns one into a Caller.

VIEW_AUDIENCE = "chuangwen:dashboard-view"
# Long enough to open the link and look around, short enough that a link pasted
# into a chat group or left in a browser history is soon worth nothing.
VIEW_LINK_TTL_S = 600


@dataclass(frozen=True)
class ViewGrant:
    admin: TokenClaims
    org_id: int
    expires_at: datetime


def issue_view_token(
    settings: Settings, *, admin: User, org_id: int, now: datetime | None = None
) -> tuple[str, datetime]:
    """The signed token of a view link and the moment it stops working."""
    now = now or datetime.now(UTC)
    expires_at = now + timedelta(seconds=VIEW_LINK_TTL_S)
    claims = {
        "sub": str(admin.id),
        "ver": admin.token_version,
        "org": org_id,
        "aud": VIEW_AUDIENCE,
        "iat": now,
        "exp": expires_at,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=JWT_ALGORITHM), expires_at


INVALID_VIEW_LINK = "链接无效，请在小程序中重新生成工作台链接"


def read_view_token(settings: Settings, token: str | None) -> ViewGrant:
    if not token:
        raise Unauthorized("not_authenticated", INVALID_VIEW_LINK, title="缺少链接凭证")
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[JWT_ALGORITHM],
            audience=VIEW_AUDIENCE,
            options={"require": ["exp", "sub", "aud", "org", "ver"]},
        )
        grant = ViewGrant(
            admin=TokenClaims(user_id=int(claims["sub"]), version=int(claims["ver"])),
            org_id=int(claims["org"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized(
            "view_link_expired",
            f"链接已过期（有效期 {VIEW_LINK_TTL_S // 60} 分钟），请在小程序中重新生成",
            title="链接已过期",
        ) from None
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise Unauthorized("not_authenticated", INVALID_VIEW_LINK, title="链接无效") from None
    ids = (grant.admin.user_id, grant.org_id)
    if (
        not all(0 < i <= MAX_TOKEN_INT for i in ids)
        or not 0 <= grant.admin.version <= MAX_TOKEN_INT
    ):
        raise Unauthorized("not_authenticated", INVALID_VIEW_LINK, title="链接无效")
    return grant


# --- phone numbers --------------------------------------------------------------

_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalize_phone(raw: str) -> str:
    """Mainland mobile numbers as 11 digits; +86, spaces and dashes are dropped."""
    digits = re.sub(r"[\s\-()]", "", str(raw).strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _PHONE_RE.match(digits):
        raise Unprocessable("invalid_phone", "手机号格式不正确，应为 11 位大陆手机号")
    return digits


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


class PiiCipher:
    """Fernet encryption plus a keyed hash (HMAC-SHA256) for exact-match lookup.

    Both keys are derived from PII_KEY with HKDF, so one secret is configured and
    the two uses never share key material.
    """

    def __init__(self, secret: str):
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"chuangwen-pii-enc")))
        self._mac_key = _derive(secret, b"chuangwen-pii-mac")

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            return None

    def lookup_hash(self, value: str) -> str:
        return hmac.new(self._mac_key, value.encode(), hashlib.sha256).hexdigest()


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


def api_key_hash(raw: str) -> str:
    """What is stored of an API key, and what a presented key is looked up by
    (app.edge.access): its SHA-256."""
    return hashlib.sha256(raw.encode()).hexdigest()
