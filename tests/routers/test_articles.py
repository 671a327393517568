"""Articles (信息报送): writing, the review ladder (先审后发), visibility, statistics."""

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select

from app.edge.access import caller_for_person
from app.models.article import Article, ArticleStatus
from app.models.media import Media
from app.models.org import OrgLevel
from app.models.user import Role, RoleGrant
from app.services.photos import can_see_media
from tests.factories.articles import info_officer, insert_article
from tests.factories.media import make_media
from tests.factories.orgs import make_org
from tests.factories.users import auth, make_user

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")


async def post_article(client, world, who="info_officer", org="C1", **overrides):
    body = {
        "title": "东关社区开展背街小巷清洁行动",
        "body": "周六上午，社区党员志愿者二十余人清理了背街小巷的卫生死角。",
        "org_id": world[org].id,
    }
    body.update(overrides)
    return await client.post("/articles", json=body, headers=world.headers(who))


async def act(client, world, who, article_id, action, json=None):
    return await client.post(
        f"/articles/{article_id}/{action}", json=json, headers=world.headers(who)
    )


async def approve(client, world, who, article_id):
    return await act(client, world, who, article_id, "review", {"approve": True})


async def get(client, world, who, article_id):
    return await client.get(f"/articles/{article_id}", headers=world.headers(who))


async def submitted_article(client, world, who="info_officer", org="C1", **fields):
    if who == "info_officer":
        await info_officer(world)
    created = await post_article(client, world, who=who, org=org, **fields)
    assert created.status_code == 201, created.text
    submitted = await act(client, world, who, created.json()["id"], "submit")
    assert submitted.status_code == 200, submitted.text
    return submitted.json()


async def climb(client, world, article, reviewers):
    """Approve level by level, checking where the article waits before each step."""
    for who, level in reviewers:
        assert article["status"] == "in_review"
        assert article["review_org_id"] == world[level].id, (who, level)
        resp = await approve(client, world, who, article["id"])
        assert resp.status_code == 200, (who, resp.text)
        article = resp.json()
    return article


# --- writing ------------------------------------------------------------------------------


async def test_an_info_officer_writes_a_draft_that_only_they_see(client, world):
    await info_officer(world)
    resp = await post_article(client, world)
    assert resp.status_code == 201
    article = resp.json()
    assert article["status"] == "draft"
    assert article["review_org_id"] is None
    assert article["author_name"] == "信息员"
    assert (await get(client, world, "info_officer", article["id"])).status_code == 200
    for who in ("community_admin", "district_admin", "member"):
        assert (await get(client, world, who, article["id"])).status_code == 404, who
        listed = await client.get("/articles", headers=world.headers(who))
        assert listed.json()["total"] == 0, who


async def test_who_may_write_for_which_org(client, world):
    await info_officer(world, "street_officer", "S1")
    await info_officer(world)
    # A role reaches the whole subtree below the org it is held at.
    assert (await post_article(client, world, "street_officer", "C2")).status_code == 201
    assert (await post_article(client, world, "street_admin", "U1")).status_code == 201
    assert (await post_article(client, world, "community_admin", "C1")).status_code == 201
    # The C1 officer sees C1 and nothing of C2; a member sees their community but holds no role.
    assert (await post_article(client, world, "info_officer", "C2")).status_code == 404
    member = await post_article(client, world, "member", "C1")
    assert member.status_code == 403
    assert member.json()["code"] == "forbidden"
    inspector = await post_article(client, world, "inspector", "C1")
    assert inspector.status_code == 403
    blank = await post_article(client, world, "community_admin", "C1", title="   ")
    assert blank.status_code == 422
    assert blank.json()["code"] == "validation_error"
    sneaky = await post_article(client, world, "community_admin", "C1", status="published")
    assert sneaky.json()["code"] == "validation_error"


async def test_the_same_idempotency_key_creates_one_article(client, world):
    await info_officer(world)
    headers = {**world.headers("info_officer"), "Idempotency-Key": "article-1"}
    body = {"title": "文明实践", "body": "社区文明实践站开展活动。", "org_id": world["C1"].id}
    first = await client.post("/articles", json=body, headers=headers)
    again = await client.post("/articles", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    other = await client.post("/articles", json={**body, "title": "别的"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    async with world.app.state.sessionmaker() as s:
        count = (await s.execute(select(func.count()).select_from(Article))).scalar_one()
    assert count == 1


async def test_photos_must_be_the_authors_and_are_seen_by_reviewers(client, world):
    author = await info_officer(world)
    mine = await make_media(world.app, author)
    theirs = await make_media(world.app, world.user("member"))
    refused = await post_article(client, world, photo_ids=[theirs.id])
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_photo"
    created = await post_article(client, world, photo_ids=[mine.id])
    assert created.json()["photo_ids"] == [mine.id]
    article_id = created.json()["id"]

    async def sees(who):
        async with world.app.state.sessionmaker() as s:
            caller = await caller_for_person(s, world.user(who))
            media = await s.get(Media, mine.id)
            return await can_see_media(s, caller, media)

    assert not await sees("community_admin")  # a draft is the author's alone
    await act(client, world, "info_officer", article_id, "submit")
    assert await sees("community_admin")
    assert await sees("street_admin")
    assert not await sees("other_street_admin")
    assert not await sees("member")  # not published yet


async def test_the_author_edits_a_draft_and_photos_are_replaced(client, world):
    author = await info_officer(world)
    first, second = await make_media(world.app, author), await make_media(world.app, author)
    created = (await post_article(client, world, photo_ids=[first.id])).json()
    resp = await client.patch(
        f"/articles/{created['id']}",
        json={"title": "改过的标题", "photo_ids": [second.id]},
        headers=world.headers("info_officer"),
    )
    assert resp.status_code == 200
    assert resp.json()["title"] == "改过的标题"
    assert resp.json()["body"] == created["body"]
    assert resp.json()["photo_ids"] == [second.id]
    empty = await client.patch(
        f"/articles/{created['id']}", json={"body": " "}, headers=world.headers("info_officer")
    )
    assert empty.status_code == 422


# --- the state machine ----------------------------------------------------------------------

# (state, action) → status code the author (edit, submit) or the C1 admin (approve,
# return) gets, and the state the article is in afterwards. The C1 admin cannot see
# drafts at all, so reviewing one is 404.
TRANSITIONS = [
    ("draft", "edit", 200, "draft"),
    ("draft", "submit", 200, "in_review"),
    ("draft", "approve", 404, "draft"),
    ("draft", "return", 404, "draft"),
    ("in_review", "edit", 409, "in_review"),
    ("in_review", "submit", 409, "in_review"),
    ("in_review", "approve", 200, "in_review"),
    ("in_review", "return", 200, "returned"),
    ("returned", "edit", 200, "returned"),
    ("returned", "submit", 200, "in_review"),
    ("returned", "approve", 409, "returned"),
    ("returned", "return", 409, "returned"),
    ("published", "edit", 409, "published"),
    ("published", "submit", 409, "published"),
    ("published", "approve", 409, "published"),
    ("published", "return", 409, "published"),
]


@pytest.mark.parametrize(("state", "action", "code", "after"), TRANSITIONS)
async def test_every_transition_of_the_state_machine(client, world, state, action, code, after):
    author = await info_officer(world)
    article = await insert_article(
        world.app, org=world["C1"], author=author, status=ArticleStatus(state)
    )
    path = f"/articles/{article.id}"
    if action == "edit":
        resp = await client.patch(
            path, json={"body": "新的正文"}, headers=world.headers("info_officer")
        )
    elif action == "submit":
        resp = await act(client, world, "info_officer", article.id, "submit")
    else:
        review = {"approve": action == "approve", "comment": "请补充活动照片"}
        resp = await act(client, world, "community_admin", article.id, "review", review)
    assert resp.status_code == code, resp.text
    if code == 409:
        assert resp.json()["code"] == "invalid_article_state"
    async with world.app.state.sessionmaker() as s:
        stored = await s.get(Article, article.id)
    assert stored.status == after


async def test_only_the_author_edits_and_submits(client, world):
    author = await info_officer(world)
    returned = await insert_article(
        world.app, org=world["C1"], author=author, status=ArticleStatus.returned
    )
    # The admin sees a returned article but it is not theirs to change.
    edit = await client.patch(
        f"/articles/{returned.id}", json={"title": "x"}, headers=world.headers("community_admin")
    )
    assert edit.status_code == 403
    submit = await act(client, world, "community_admin", returned.id, "submit")
    assert submit.status_code == 403
    assert submit.json()["code"] == "forbidden"


# --- the ladder -------------------------------------------------------------------------------


async def test_a_community_article_climbs_community_street_district_then_is_published(
    client, world
):
    article = await submitted_article(client, world)
    published = await climb(
        client,
        world,
        article,
        [("community_admin", "C1"), ("street_admin", "S1"), ("district_admin", "D")],
    )
    assert published["status"] == "published"
    assert published["review_org_id"] is None
    assert published["published_at"] is not None
    history = (await get(client, world, "info_officer", article["id"])).json()["history"]
    assert [(e["action"], e["to_status"], e["level_org_id"]) for e in history] == [
        ("create", "draft", None),
        ("submit", "in_review", world["C1"].id),
        ("approve", "in_review", world["C1"].id),
        ("approve", "in_review", world["S1"].id),
        ("approve", "published", world["D"].id),
    ]
    assert history[-1]["actor_name"] == "区管理员"


async def test_importance_decides_how_far_an_article_climbs(client, world):
    routine = await submitted_article(client, world, importance="routine", urgent=True)
    assert (routine["importance"], routine["urgent"]) == ("routine", True)
    assert routine["review_level_at"] is not None
    done = await climb(client, world, routine, [("community_admin", "C1")])
    assert (done["status"], done["review_level_at"]) == ("published", None)

    important = await submitted_article(client, world, importance="important")
    done = await climb(
        client, world, important, [("community_admin", "C1"), ("street_admin", "S1")]
    )
    assert done["status"] == "published"

    # A unit under the district has no street: important climbs to the district. A
    # routine article of a level nobody staffs waits at the nearest staffed one above.
    await info_officer(world, "district_unit_officer", "UD")
    for importance in ("important", "routine"):
        article = await submitted_article(
            client, world, "district_unit_officer", "UD", importance=importance
        )
        assert (await climb(client, world, article, [("district_admin", "D")]))[
            "status"
        ] == "published"

    # The grade is the author's while they may edit; a bad grade is refused.
    draft = (await post_article(client, world, importance="minor")).json()
    assert draft["code"] == "validation_error"


async def test_a_street_article_climbs_street_then_district(client, world):
    await info_officer(world, "street_officer", "S1")
    article = await submitted_article(client, world, "street_officer", "S1")
    published = await climb(
        client, world, article, [("street_admin", "S1"), ("district_admin", "D")]
    )
    assert published["status"] == "published"


async def test_a_unit_article_skips_the_unit_which_has_no_admins(client, world):
    under_street = await submitted_article(client, world, "street_admin", "U1")
    # The street admin wrote it, so the street level is skipped too: nobody reviews their own.
    assert under_street["review_org_id"] == world["D"].id
    await info_officer(world, "unit_officer", "U1")
    by_officer = await submitted_article(client, world, "unit_officer", "U1")
    published = await climb(
        client, world, by_officer, [("street_admin", "S1"), ("district_admin", "D")]
    )
    assert published["status"] == "published"
    await info_officer(world, "district_unit_officer", "UD")
    under_district = await submitted_article(client, world, "district_unit_officer", "UD")
    assert (await climb(client, world, under_district, [("district_admin", "D")]))[
        "status"
    ] == "published"


async def test_a_level_without_admins_is_skipped(client, world):
    world.orgs["C4"] = await make_org(world.app, "无人社区", OrgLevel.community, world["S2"])
    await info_officer(world, "c4_officer", "C4")
    article = await submitted_article(client, world, "c4_officer", "C4")
    published = await climb(
        client, world, article, [("other_street_admin", "S2"), ("district_admin", "D")]
    )
    assert published["status"] == "published"


async def test_an_admin_authors_article_starts_above_their_own_level(client, world):
    article = await submitted_article(client, world, "community_admin", "C1")
    assert article["review_org_id"] == world["S1"].id
    own = await approve(client, world, "community_admin", article["id"])
    assert own.status_code == 403
    assert own.json()["code"] == "cannot_review_own_article"


async def test_the_author_cannot_review_their_own_article(client, world):
    article = await submitted_article(client, world)
    resp = await approve(client, world, "info_officer", article["id"])
    assert resp.status_code == 403
    assert resp.json()["code"] == "cannot_review_own_article"


async def test_a_higher_reviewer_cannot_act_before_the_article_reaches_them(client, world):
    article = await submitted_article(client, world)
    for who in ("street_admin", "district_admin"):
        early = await approve(client, world, who, article["id"])
        assert early.status_code == 403, who
        assert early.json()["code"] == "not_your_review_level"
        returning = await act(
            client, world, who, article["id"], "review", {"approve": False, "comment": "不行"}
        )
        assert returning.status_code == 403, who
    # Someone who cannot see it at all learns nothing.
    hidden = await approve(client, world, "other_street_admin", article["id"])
    assert hidden.status_code == 404
    neighbour = await approve(client, world, "other_community_admin", article["id"])
    assert neighbour.status_code == 404


async def test_a_reviewer_whose_level_was_passed_gets_409(client, world):
    article = await submitted_article(client, world)
    await approve(client, world, "community_admin", article["id"])
    again = await approve(client, world, "community_admin", article["id"])
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_article_state"


async def test_a_return_at_the_street_needs_a_comment_and_resubmission_starts_at_the_bottom(
    client, world
):
    article = await submitted_article(client, world)
    article = await climb(client, world, article, [("community_admin", "C1")])
    silent = await act(client, world, "street_admin", article["id"], "review", {"approve": False})
    assert silent.status_code == 422
    assert silent.json()["code"] == "comment_required"
    returned = await act(
        client,
        world,
        "street_admin",
        article["id"],
        "review",
        {"approve": False, "comment": "请补充活动人数"},
    )
    assert returned.status_code == 200
    assert returned.json()["status"] == "returned"
    assert returned.json()["review_org_id"] is None
    # The author sees why, edits, and sends it again: the changed text starts over at C1.
    detail = (await get(client, world, "info_officer", article["id"])).json()
    last = detail["history"][-1]
    assert (last["action"], last["level_org_id"], last["comment"]) == (
        "return",
        world["S1"].id,
        "请补充活动人数",
    )
    edited = await client.patch(
        f"/articles/{article['id']}",
        json={"body": "周六上午，社区党员志愿者二十三人清理了背街小巷。"},
        headers=world.headers("info_officer"),
    )
    assert edited.json()["status"] == "returned"
    again = await act(client, world, "info_officer", article["id"], "submit")
    assert again.json()["review_org_id"] == world["C1"].id
    # Submitted once for the statistics, however often it is resubmitted.
    assert again.json()["first_submitted_at"] == article["first_submitted_at"]
    published = await climb(
        client,
        world,
        again.json(),
        [("community_admin", "C1"), ("street_admin", "S1"), ("district_admin", "D")],
    )
    assert published["status"] == "published"


async def test_a_level_that_loses_its_admins_is_acted_for_by_the_next_one(client, world):
    article = await submitted_article(client, world)
    article = await climb(client, world, article, [("community_admin", "C1")])
    async with world.app.state.sessionmaker() as s, s.begin():
        await s.execute(delete(RoleGrant).where(RoleGrant.org_id == world["S1"].id))
    published = await approve(client, world, "district_admin", article["id"])
    assert published.status_code == 200
    assert published.json()["status"] == "published"


@pytest.mark.pooled
async def test_two_reviewers_of_one_level_at_once_leave_one_winner(client, world):
    second = await make_user(
        world.app, "社区副书记", community=world["C1"], roles=[(Role.community_admin, world["C1"])]
    )
    reviewers = [world.headers("community_admin"), auth(world.app, second)]
    await info_officer(world)
    for round_no in range(5):
        created = await post_article(client, world, title=f"第{round_no}篇")
        article_id = created.json()["id"]
        await act(client, world, "info_officer", article_id, "submit")
        bodies = [{"approve": True}, {"approve": round_no % 2 == 0, "comment": "请修改"}]
        responses = await asyncio.gather(
            *(
                client.post(f"/articles/{article_id}/review", json=b, headers=h)
                for b, h in zip(bodies, reviewers, strict=True)
            )
        )
        assert Counter(r.status_code for r in responses) == {200: 1, 409: 1}, round_no
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.json()["code"] == "invalid_article_state"
        detail = (await get(client, world, "info_officer", article_id)).json()
        reviews = [e for e in detail["history"] if e["action"] in ("approve", "return")]
        assert len(reviews) == 1, round_no


# --- who sees what ---------------------------------------------------------------------------


async def test_admins_see_articles_in_reach_and_everyone_of_the_district_sees_published_ones(
    client, world
):
    author = await info_officer(world)
    in_review = await insert_article(
        world.app, org=world["C1"], author=author, status=ArticleStatus.in_review
    )
    published = await insert_article(
        world.app, org=world["C1"], author=author, status=ArticleStatus.published
    )
    for who, sees_review in (
        ("community_admin", True),
        ("street_admin", True),
        ("district_admin", True),
        ("other_community_admin", False),
        ("other_street_admin", False),
        ("member", False),
    ):
        code = (await get(client, world, who, in_review.id)).status_code
        assert code == (200 if sees_review else 404), who
        assert (await get(client, world, who, published.id)).status_code == 200, who
    outsider_district = await make_org(world.app, "外区", OrgLevel.district)
    outsider_street = await make_org(world.app, "外区街道", OrgLevel.street, outsider_district)
    outsider_home = await make_org(world.app, "外区社区", OrgLevel.community, outsider_street)
    outsider = await make_user(world.app, "外区居民", community=outsider_home)
    resp = await client.get(f"/articles/{published.id}", headers=auth(world.app, outsider))
    assert resp.status_code == 404


async def test_the_list_filters_by_status_subtree_and_what_awaits_me(client, world):
    author = await info_officer(world)
    await info_officer(world, "c3_officer", "C3")
    at_c1 = await insert_article(
        world.app, org=world["C1"], author=author, status=ArticleStatus.in_review
    )
    at_s1 = await insert_article(
        world.app,
        org=world["C1"],
        author=author,
        status=ArticleStatus.in_review,
        review_org=world["S1"],
    )
    c3 = await insert_article(
        world.app, org=world["C3"], author=world.user("c3_officer"), status=ArticleStatus.published
    )
    headers = world.headers("district_admin")

    async def ids(**params):
        resp = await client.get("/articles", params=params, headers=headers)
        assert resp.status_code == 200
        return {a["id"] for a in resp.json()["items"]}

    assert await ids() == {at_c1.id, at_s1.id, c3.id}
    assert await ids(status="published") == {c3.id}
    assert await ids(org_id=world["S1"].id) == {at_c1.id, at_s1.id}
    assert await ids(org_id=world["S2"].id) == {c3.id}
    street = await client.get(
        "/articles", params={"awaiting_my_review": True}, headers=world.headers("street_admin")
    )
    assert {a["id"] for a in street.json()["items"]} == {at_s1.id}


# --- statistics -------------------------------------------------------------------------------


def at(text):
    return datetime.fromisoformat(text).astimezone(UTC)


async def test_stats_count_submissions_and_publications_per_child_subtree(client, world):
    author = await info_officer(world)
    await info_officer(world, "s2_officer", "S2")
    s2_author = world.user("s2_officer")
    q1, q2 = "2025-02-10T10:00:00+08:00", "2025-05-10T10:00:00+08:00"

    async def article(org, status, submitted, published=None):
        await insert_article(
            world.app,
            org=world[org],
            author=s2_author if org in ("S2", "C3") else author,
            status=status,
            first_submitted_at=at(submitted),
            published_at=at(published) if published else None,
        )

    # S1's subtree: 3 submitted in Q1, 2 of them published (one in Q1, one in Q2).
    await article("C1", ArticleStatus.published, q1, q1)
    await article("C2", ArticleStatus.published, q1, q2)
    await article("U1", ArticleStatus.returned, q1)
    # S2: 2 submitted in Q1, both published in Q1; 1 more submitted in Q2.
    await article("C3", ArticleStatus.published, q1, q1)
    await article("S2", ArticleStatus.published, q1, q1)
    await article("C3", ArticleStatus.in_review, q2)
    # Midnight on 1 April in Shanghai is still 31 March in UTC: that is Q2.
    await article("C1", ArticleStatus.in_review, "2025-04-01T00:30:00+08:00")
    # Another year, and a draft never submitted: neither counts.
    await article(
        "C1", ArticleStatus.published, "2024-12-20T10:00:00+08:00", "2024-12-21T10:00+08:00"
    )
    await insert_article(world.app, org=world["C1"], author=author)

    headers = world.headers("district_admin")
    resp = await client.get(
        "/stats/articles",
        params={"org_id": world["D"].id, "year": 2025, "quarter": 1},
        headers=headers,
    )
    assert resp.status_code == 200
    body = resp.json()
    rows = {
        r["org_id"]: (r["submitted"], r["published"], r["acceptance_rate"])
        for r in body["children"]
    }
    assert rows == {
        world["S1"].id: (3, 1, 0.3333),
        world["S2"].id: (2, 2, 1.0),
        world["UD"].id: (0, 0, None),
    }
    # Sorted by published, then rate, the empty ones last.
    assert [r["org_id"] for r in body["children"]] == [
        world["S2"].id,
        world["S1"].id,
        world["UD"].id,
    ]
    assert (body["total"]["submitted"], body["total"]["published"]) == (5, 3)

    q2_body = (
        await client.get(
            "/stats/articles",
            params={"org_id": world["S1"].id, "year": 2025, "quarter": 2},
            headers=world.headers("street_admin"),
        )
    ).json()
    q2_rows = {r["org_id"]: (r["submitted"], r["published"]) for r in q2_body["children"]}
    assert q2_rows == {world["C1"].id: (1, 0), world["C2"].id: (0, 1), world["U1"].id: (0, 0)}
    year = (
        await client.get(
            "/stats/articles", params={"org_id": world["D"].id, "year": 2025}, headers=headers
        )
    ).json()
    assert (year["total"]["submitted"], year["total"]["published"]) == (7, 4)
    assert year["quarter"] is None


async def test_stats_are_for_admins_over_the_org(client, world):
    params = {"org_id": world["S1"].id}
    assert (
        await client.get("/stats/articles", params=params, headers=world.headers("member"))
    ).status_code == 403
    outside = await client.get(
        "/stats/articles", params=params, headers=world.headers("other_street_admin")
    )
    assert outside.status_code == 404
    bad_quarter = await client.get(
        "/stats/articles",
        params={**params, "quarter": 5},
        headers=world.headers("street_admin"),
    )
    assert bad_quarter.status_code == 422
