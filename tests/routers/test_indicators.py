"""Indicators (网上资料申报): the checklist item's way from pending to accepted, the
evidence documents checked by their bytes and sent only as downloads, the overdue
reminder and completion per org."""

import io
import zipfile
from datetime import timedelta

from sqlalchemy import select

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.notification import Message
from app.services.indicators import SCANS
from app.services.notifications import scans
from tests.factories.indicators import PDF, insert_indicator, xlsx_bytes
from tests.factories.media import make_media


async def upload(client, world, name, data, who="member"):
    return await client.post(
        "/documents", files={"file": (name, data, "application/pdf")}, headers=world.headers(who)
    )


async def kinds_of(world, key):
    async with world.app.state.sessionmaker() as s:
        rows = await s.execute(select(Message.kind).where(Message.user_id == world.user(key).id))
        return sorted(rows.scalars())


async def test_an_item_is_documented_returned_resubmitted_and_accepted(client, world):
    admin, owner = world.headers("community_admin"), world.headers("member")
    due = (local(utcnow()).date() + timedelta(days=5)).isoformat()
    body = {
        "code": "2.1.3",
        "title": "志愿服务站点建设",
        "org_id": world["C1"].id,
        "owner_user_id": world.user("member").id,
        "due_on": due,
    }
    created = await client.post("/indicators", json=body, headers=admin)
    assert created.status_code == 201, created.text
    twice = await client.post("/indicators", json=body, headers=admin)
    assert (twice.status_code, twice.json()["code"]) == (409, "indicator_exists")
    item = created.json()
    pdf, sheet = (
        (await upload(client, world, "a.pdf", PDF)),
        (await upload(client, world, "a.xlsx", xlsx_bytes())),
    )
    assert pdf.json()["content_type"] == "application/pdf"
    assert sheet.json()["content_type"].endswith("spreadsheetml.sheet")
    ids = [pdf.json()["id"], sheet.json()["id"]]
    photo = await make_media(world.app, world.user("member"))
    path = f"/indicators/{item['id']}"
    sent = await client.post(
        f"{path}/evidence",
        json={"note": "站点台账", "photo_ids": [photo.id], "media_ids": ids},
        headers=owner,
    )
    assert sent.status_code == 200, sent.text
    assert (sent.json()["status"], sent.json()["media_ids"]) == ("submitted", ids)
    assert sent.json()["photo_ids"] == [photo.id]
    own_review = await client.post(f"{path}/review", json={"approve": True}, headers=owner)
    assert own_review.status_code == 403
    no_reason = await client.post(f"{path}/review", json={"approve": False}, headers=admin)
    assert no_reason.json()["code"] == "comment_required"
    back = await client.post(
        f"{path}/review", json={"approve": False, "comment": "缺照片"}, headers=admin
    )
    assert back.json()["status"] == "returned"
    assert await kinds_of(world, "member") == ["indicator_returned"]
    again = await client.post(f"{path}/evidence", json={"note": "补充照片"}, headers=owner)
    assert again.json()["status"] == "submitted"
    accepted = await client.post(f"{path}/review", json={"approve": True}, headers=admin)
    assert accepted.json()["status"] == "accepted"
    # The office downloads the evidence: as an attachment, byte for byte.
    got = await client.get(f"/documents/{ids[0]}", headers=world.headers("street_admin"))
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-disposition"].startswith("attachment")
    assert got.headers["x-content-type-options"] == "nosniff"
    via_media = await client.get(f"/media/{ids[0]}", headers=world.headers("street_admin"))
    assert via_media.headers["content-disposition"].startswith("attachment")
    outsider = await client.get(f"/documents/{ids[0]}", headers=world.headers("other_street_admin"))
    assert outsider.status_code == 404


def zipped(*names: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n in names:
            z.writestr(n, "<x/>")
    return out.getvalue()


async def test_evidence_files_are_what_their_bytes_say_or_refused(client, world):
    refused = {
        "script.pdf": b"<script>alert(1)</script>",
        "plain.docx": zipped("a.txt"),
        "macro.docx": zipped("[Content_Types].xml", "word/document.xml", "word/vbaProject.bin"),
        "photo.pdf": b"\xff\xd8\xff\xe0" + b"\x00" * 64,
    }
    for name, data in refused.items():
        resp = await upload(client, world, name, data)
        assert (resp.status_code, resp.json()["code"]) == (415, "unsupported_media_type"), name
    docx = await upload(
        client, world, "ok.docx", zipped("[Content_Types].xml", "word/document.xml")
    )
    assert docx.status_code == 201, docx.text
    item = await insert_indicator(
        world.app,
        org=world["C1"],
        owner=world.user("member"),
        creator=world.user("community_admin"),
    )
    photo = await make_media(world.app, world.user("member"))
    resp = await client.post(
        f"/indicators/{item.id}/evidence",
        json={"note": "照片当文档", "media_ids": [photo.id]},
        headers=world.headers("member"),
    )
    assert (resp.status_code, resp.json()["code"]) == (422, "invalid_document")


async def test_an_overdue_item_is_chased_once_and_completion_is_counted_per_community(
    client, world
):
    today = local(utcnow()).date()
    people = {"owner": world.user("member"), "creator": world.user("community_admin")}
    late = await insert_indicator(
        world.app, org=world["C1"], due_on=today - timedelta(days=1), **people
    )
    await insert_indicator(world.app, org=world["C2"], due_on=today - timedelta(days=1), **people)
    await insert_indicator(world.app, org=world["C1"], **people)
    (scan,) = SCANS
    app = world.app
    run = {"sessionmaker": app.state.sessionmaker, "settings": app.state.settings}
    first = await scans.run(scan, now=utcnow(), **run)
    assert first.notified == 4  # each late item: its owner and the community's secretary
    assert await kinds_of(world, "community_admin") == ["indicator_overdue"]
    later = await scans.run(scan, now=utcnow() + timedelta(days=1), **run)
    assert later.ran and later.notified == 0
    listed = await client.get("/indicators?overdue=true", headers=world.headers("street_admin"))
    assert listed.json()["total"] == 2 and late.id in [i["id"] for i in listed.json()["items"]]
    stats = await client.get(
        "/stats/indicators",
        params={"org_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    by_org = {c["org_id"]: c for c in stats.json()["children"]}
    c1 = by_org[world["C1"].id]
    assert (c1["total"], c1["pending"], c1["overdue"], c1["completion_rate"]) == (2, 2, 1, 0.0)
    assert stats.json()["total"]["total"] == 3
    board = await client.get(
        "/dashboard", params={"org_id": world["S1"].id}, headers=world.headers("street_admin")
    )
    assert (board.json()["indicators"], board.json()["indicators_overdue"]) == (3, 2)
