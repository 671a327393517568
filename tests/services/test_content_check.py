"""The WeChat content check (msg_sec_check v2) on article submission, against the stub."""

import logging

from app.core.wechat import MSG_SEC_CHECK_MAX_CHARS
from app.models.article import ArticleStatus
from tests.factories.articles import info_officer, insert_article

CHECK = "wxa/msg_sec_check"


async def draft(world, *, openid="auto", body=None, status=ArticleStatus.draft):
    author = await info_officer(world, openid=openid)
    article = await insert_article(world.app, org=world["C1"], author=author, status=status)
    if body is not None:
        async with world.app.state.sessionmaker() as s, s.begin():
            stored = await s.get(type(article), article.id)
            stored.body = body
    return author, article


async def submit(client, world, article_id):
    return await client.post(
        f"/articles/{article_id}/submit", headers=world.headers("info_officer")
    )


async def status_of(client, world, article_id):
    resp = await client.get(f"/articles/{article_id}", headers=world.headers("info_officer"))
    return resp.json()["status"]


async def test_a_passing_text_is_submitted_and_wechat_is_asked_as_documented(client, world, stub):
    author, article = await draft(world)
    resp = await submit(client, world, article.id)
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "in_review"
    assert (body["content_flagged"], body["needs_human_review"]) == (False, False)
    (call,) = [c for p, c in stub.calls if p == CHECK]
    assert call["version"] == 2
    assert call["scene"] == 3
    assert call["openid"] == author.openid
    assert call["title"] == article.title
    assert call["content"] == article.body
    assert call["access_token"] == stub.token


async def test_a_risky_text_is_refused_and_stays_a_draft(client, world, stub):
    stub.content_verdicts["赌博"] = "risky"
    _, article = await draft(world, body="社区里有人组织赌博活动。")
    resp = await submit(client, world, article.id)
    assert resp.status_code == 422
    assert resp.json()["code"] == "content_rejected"
    assert await status_of(client, world, article.id) == "draft"


async def test_a_risky_returned_article_stays_returned(client, world, stub):
    stub.content_verdicts["清理"] = "risky"
    _, article = await draft(world, status=ArticleStatus.returned)
    resp = await submit(client, world, article.id)
    assert resp.json()["code"] == "content_rejected"
    assert await status_of(client, world, article.id) == "returned"


async def test_a_text_to_review_goes_on_flagged_for_the_reviewers(client, world, stub):
    stub.content_verdicts["清理"] = "review"
    _, article = await draft(world)
    resp = await submit(client, world, article.id)
    assert resp.status_code == 200
    assert resp.json()["status"] == "in_review"
    seen = await client.get(f"/articles/{article.id}", headers=world.headers("community_admin"))
    assert seen.json()["content_flagged"] is True
    assert seen.json()["needs_human_review"] is False


async def test_the_worst_piece_of_a_long_text_decides(client, world, stub):
    stub.content_verdicts["赌博"] = "risky"
    long_body = "文" * MSG_SEC_CHECK_MAX_CHARS + "赌博"
    _, article = await draft(world, body=long_body)
    resp = await submit(client, world, article.id)
    assert resp.json()["code"] == "content_rejected"
    pieces = [c["content"] for p, c in stub.calls if p == CHECK]
    assert pieces == ["文" * MSG_SEC_CHECK_MAX_CHARS, "赌博"]


async def test_an_author_without_wechat_is_not_checked_but_marked_for_people(client, world, stub):
    _, article = await draft(world, openid=None)
    resp = await submit(client, world, article.id)
    assert resp.status_code == 200
    assert resp.json()["needs_human_review"] is True
    assert stub.count(CHECK) == 0


async def test_an_openid_wechat_does_not_know_is_marked_for_people(client, world, stub):
    _, article = await draft(world, openid="unknown-openid")
    resp = await submit(client, world, article.id)
    assert resp.status_code == 200
    assert resp.json()["needs_human_review"] is True
    assert stub.count(CHECK) == 1


async def test_a_clean_resubmission_clears_the_flags(client, world, stub):
    stub.content_verdicts["清理"] = "review"
    _, article = await draft(world, status=ArticleStatus.returned)
    assert (await submit(client, world, article.id)).json()["content_flagged"] is True
    returned = await client.post(
        f"/articles/{article.id}/review",
        json={"approve": False, "comment": "请换个说法"},
        headers=world.headers("community_admin"),
    )
    assert returned.json()["status"] == "returned"
    await client.patch(
        f"/articles/{article.id}",
        json={"title": "东关社区环境整治", "body": "志愿者整治了背街小巷。"},
        headers=world.headers("info_officer"),
    )
    assert (await submit(client, world, article.id)).json()["content_flagged"] is False


async def test_wechat_down_is_503_and_nothing_is_submitted_unchecked(client, world, stub, caplog):
    author, article = await draft(world)
    stub.forced_errors[CHECK] = [-1]
    with caplog.at_level(logging.DEBUG):
        resp = await submit(client, world, article.id)
    assert resp.status_code == 503
    assert resp.json()["code"] == "wechat_unavailable"
    assert await status_of(client, world, article.id) == "draft"
    # Neither the text nor who wrote it reaches the logs.
    assert article.body not in caplog.text
    assert author.openid not in caplog.text


async def test_a_refused_check_is_503_not_a_login_failure(client, world, stub):
    _, article = await draft(world)
    stub.forced_errors[CHECK] = [47001]
    resp = await submit(client, world, article.id)
    assert resp.status_code == 503
    assert resp.json()["code"] == "wechat_unavailable"


async def test_an_expired_token_is_refetched_once(client, world, stub):
    _, article = await draft(world)
    stub.forced_errors[CHECK] = [40001]
    resp = await submit(client, world, article.id)
    assert resp.status_code == 200
    assert resp.json()["status"] == "in_review"
    assert stub.count(CHECK) == 2
    assert stub.count("cgi-bin/stable_token") == 2


async def test_with_the_check_switched_off_wechat_is_not_asked(client, world, stub, monkeypatch):
    monkeypatch.setattr(world.app.state.settings, "content_check_enabled", False)
    stub.content_verdicts["清理"] = "risky"
    _, article = await draft(world)
    resp = await submit(client, world, article.id)
    assert resp.status_code == 200
    assert (resp.json()["content_flagged"], resp.json()["needs_human_review"]) == (False, False)
    assert stub.count(CHECK) == 0
