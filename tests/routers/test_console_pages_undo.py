"""Taking a decision back in a browser (Chromium through Playwright, the app over real
HTTP, as tests/routers/test_console_pages.py): a secretary opens the hours screen's
已通过 view and revokes an approval with a reason, under the console's strict CSP."""

from __future__ import annotations

from sqlalchemy import select

from app.models.audit import AuditEntry
from app.models.volunteer_hours import HourStatus, VolunteerHour
from tests.factories.volunteer_hours import insert_entry
from tests.routers.test_console_pages import log_in, served, tab

__all__ = ["served", "tab"]


async def test_a_secretary_revokes_an_approved_entry_from_the_approved_view(served, world, tab):
    entry = await insert_entry(
        world.app, user=world.user("member"), org=world["C1"], status=HourStatus.approved
    )
    await log_in(tab, served, world, "community_admin")
    page = tab.page
    await page.goto(f"{served}/console/reviews/hours")
    async with page.expect_navigation():
        await page.click('a[data-view="?view=approved"]')
    reason = page.locator(f'tr[data-item="{entry.id}"] input[name="reason"]')
    await reason.fill("重复登记")
    async with page.expect_navigation():
        await reason.press("Enter")
    assert "已撤销" in await page.text_content('[role="status"]')
    assert await page.locator("tr[data-item]").count() == 0
    assert tab.errors == []
    async with world.app.state.sessionmaker() as s:
        revoked = await s.get(VolunteerHour, entry.id)
        actions = set((await s.execute(select(AuditEntry.action))).scalars())
    assert revoked is not None and revoked.status == HourStatus.rejected
    assert "volunteer_hour.revoke" in actions
