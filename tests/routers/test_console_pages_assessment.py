"""The assessment's console forms in a browser (Chromium through Playwright, the app over
real HTTP, as tests/routers/test_console_pages.py): the district sets the score's
weights and builds a quiz the way an office would, under the console's strict CSP."""

from __future__ import annotations

from sqlalchemy import select

from app.models.scoring import ScoringWeights
from app.models.survey import Survey
from tests.routers.test_console_pages import log_in, served, tab

__all__ = ["served", "tab"]


async def test_the_district_sets_the_weights_and_builds_a_quiz_on_the_console(served, world, tab):
    await log_in(tab, served, world, "district_admin")
    page = tab.page

    await page.goto(f"{served}/console/scoring")
    assert "尚未设定权重" in await page.text_content("[data-version]")
    await page.fill('[data-metric="report_in_rate"] input[name="weight"]', "2")
    await page.fill('[data-metric="household_satisfaction_rate"] input[name="weight"]', "1")
    async with page.expect_navigation():
        await page.click('[data-weights] button[type="submit"]')
    async with world.app.state.sessionmaker() as s:
        version = (await s.execute(select(ScoringWeights))).scalar_one()
    assert version.weights == {"household_satisfaction_rate": 1.0, "report_in_rate": 2.0}
    assert await page.text_content('[role="status"]') == f"已保存为第 {version.id} 版。"

    await page.goto(f"{served}/console/surveys/new?questions=2")
    builder = page.locator("[data-survey-builder]")
    await builder.locator('input[name="title"]').fill("创文知识小测")
    await builder.locator('select[name="kind"]').select_option("quiz")
    first, second = page.locator('[data-slot="1"]'), page.locator('[data-slot="2"]')
    await first.locator('input[name="q_text"]').fill("我市正在创建什么？")
    await first.locator('textarea[name="q_options"]').fill("全国文明城市\n国家卫生城市")
    await first.locator('input[name="q_answer"]').fill("A")
    await second.locator('input[name="q_text"]').fill("您对创文工作的满意程度")
    await second.locator('select[name="q_type"]').select_option("scale")
    async with page.expect_navigation():
        await builder.locator('button[type="submit"]').click()
    assert await page.text_content('[role="status"]') == "已发起。题目发起后不能再改。"
    async with world.app.state.sessionmaker() as s:
        survey = (await s.execute(select(Survey))).scalar_one()
    assert survey.org_id == world["D"].id
    assert [q["answer"] for q in survey.questions] == [[0], None]
    row = page.locator(f'tr[data-survey="{survey.id}"]')
    assert await row.locator("[data-responses]").text_content() == "0"
    assert await page.locator("[data-survey-results]").count() == 1
    assert tab.errors == []
