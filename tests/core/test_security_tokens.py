"""An access token is checked once and then remembered (app.core.security
claims_of_token); what is remembered never outlives the token nor crosses secrets."""

from __future__ import annotations

import time

import jwt

from app.core.config import Settings
from app.core.security import JWT_ALGORITHM, JWT_AUDIENCE, claims_of_token, issue_access_token


def _settings(secret: str) -> Settings:
    return Settings(_env_file=None, app_env="test", jwt_secret=secret)  # type: ignore[call-arg]


def test_a_token_read_twice_names_the_same_person_and_version():
    settings = _settings("a-secret-of-at-least-thirty-two-bytes-0001")
    token = issue_access_token(settings, 7, 3).access_token
    first = claims_of_token(settings, token)
    assert first is not None and (first.user_id, first.version) == (7, 3)
    assert claims_of_token(settings, token) == first


def test_a_token_remembered_under_one_secret_is_not_taken_under_another():
    signed_with = _settings("a-secret-of-at-least-thirty-two-bytes-0002")
    token = issue_access_token(signed_with, 7, 0).access_token
    assert claims_of_token(signed_with, token) is not None
    assert claims_of_token(_settings("another-secret-at-least-thirty-two-bytes"), token) is None


def test_a_remembered_token_is_refused_once_it_has_expired():
    settings = _settings("a-secret-of-at-least-thirty-two-bytes-0003")
    expires = int(time.time()) + 2
    claims = {"sub": "7", "ver": 0, "aud": JWT_AUDIENCE, "iat": expires - 2, "exp": expires}
    token = jwt.encode(claims, settings.jwt_secret, algorithm=JWT_ALGORITHM)
    assert claims_of_token(settings, token) is not None
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    assert claims_of_token(settings, token) is None
    assert claims_of_token(settings, token) is None
