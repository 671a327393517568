"""Rows for WeChat's message push endpoint.

WeChat's servers call it, never a person: what lets a request in is WeChat's
signature alone, so every caller of the matrix, bearer token or not, is refused
(403 `invalid_signature`) and nothing changes. Signed pushes are tested in
tests/services/test_content_check_security.py.
"""

from __future__ import annotations

from tests.contract.matrix_rows.common import Row, fixed, statuses

PATH = "/api/v1/wechat/callback"
REFUSED = statuses(403, 403, 403, 403, 403)

ROWS: dict[tuple[str, str], Row] = {
    # "right" has no meaning here (nobody may call it); the member stands in for it.
    ("GET", PATH): Row("member", REFUSED, fixed(PATH, params={"echostr": "hello"})),
    ("POST", PATH): Row(
        "member",
        REFUSED,
        fixed(
            PATH,
            json={"Event": "wxa_media_check", "trace_id": "t-1", "result": {"suggest": "pass"}},
        ),
    ),
}
