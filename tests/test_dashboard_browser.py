"""The dashboard in Debian's Chromium at a phone's size (360×740), in Persian, Hebrew and
English: charts drawn with the expected series, right-to-left layout for fa and he, Persian
digits in fa. Telegram's script cannot load here (no internet), which is the point: the page
renders without it. The phone-sized screenshot of each language goes to
``DASHBOARD_SCREENSHOTS`` (the README's pictures: ``DASHBOARD_SCREENSHOTS=docs``), else to
the test's temporary folder, where whole-page shots of every section are saved too.

The sandbox's own dashboard panel is driven at the end, with no configuration at all.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.webapp.auth import init_data_for
from bot.webapp.server import DashboardServer, Settings
from storage import brainstorm as brainstorm_store
from storage import plan as plan_store
from storage import survey as survey_store
from storage import voting as voting_store
from tests.harness import Harness
from tests.test_sandbox import CHROMIUM, _start_sandbox, _stop

PHONE = {"width": 360, "height": 740}
LATIN_DIGIT = re.compile(r"[0-9]")
PERSIAN_DIGIT = re.compile(r"[۰-۹]")

# What a community writes, in its own language.
TEXTS = {
    "fa": {"vote": "اولویت‌های محله", "problems": ["چراغ‌های خیابان", "زمین بازی", "زباله"],
           "plan": "جای امنی برای بازی بچه‌ها نیست", "tasks": ["نامه به شهرداری", "پاک‌سازی حیاط"],
           "cause": "بودجه نیست", "indicator": "بچه‌هایی که بیرون بازی می‌کنند",
           "unit": "نفر", "survey": "نیازهای محله", "question": "مهم‌ترین مشکل؟",
           "options": ["جاده‌ها", "روشنایی"], "prompt": "چه چیزی زندگی را در محله سخت می‌کند؟"},
    "he": {"vote": "סדרי העדיפויות של השכונה", "problems": ["תאורת רחוב", "גן שעשועים", "פסולת"],
           "plan": "אין מקום בטוח למשחק", "tasks": ["מכתב לעירייה", "ניקוי החצר"],
           "cause": "אין תקציב", "indicator": "ילדים שמשחקים בחוץ", "unit": "ילדים",
           "survey": "צורכי השכונה", "question": "מהי הבעיה החשובה ביותר?",
           "options": ["כבישים", "תאורה"], "prompt": "מה מקשה על החיים בשכונה?"},
    "en": {"vote": "Neighbourhood priorities",
           "problems": ["Street lights", "Playground", "Litter"],
           "plan": "No safe place for children to play",
           "tasks": ["Letter to the city hall", "Clean the yard"], "cause": "No budget",
           "indicator": "Children playing outside", "unit": "children",
           "survey": "Neighbourhood needs", "question": "Which problem matters most?",
           "options": ["Roads", "Lighting"], "prompt": "What makes life hard here?"},
}
GROUPS = ["activist", "vulnerable", "business", "activist", "media", "vulnerable"]
LIGHT = {"bg_color": "#ffffff", "text_color": "#000000", "button_color": "#3390ec",
         "button_text_color": "#ffffff", "secondary_bg_color": "#f4f4f5",
         "hint_color": "#707579", "link_color": "#3390ec"}
DARK = {"bg_color": "#212121", "text_color": "#ffffff", "button_color": "#8774e1",
        "button_text_color": "#ffffff", "secondary_bg_color": "#0f0f0f",
        "section_bg_color": "#212121", "hint_color": "#aaaaaa", "link_color": "#8774e1"}


def _rgb(colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(colour[i:i + 2], 16) for i in (1, 3, 5)))


async def _community(harness: Harness, lang: str) -> tuple[int, dict[str, object]]:
    """A community written in ``lang``: a coordinator speaking it and six residents, a closed
    sticker vote with paper stickers, a brainstorm, a plan with a tree and an indicator, and
    a survey. Returns the coordinator's Telegram user (for initData)."""
    text = TEXTS[lang]
    invitation = await harness.new_community(f"Mahfil {lang}")
    cid = invitation.community.id
    coordinator = await harness.coordinator(invitation, lang, name=f"Coordinator {lang}")
    residents = [await harness.resident(invitation, lang, group=g) for g in GROUPS]
    db = harness.db
    vote = await voting_store.create(db, cid, title=str(text["vote"]), method="stickers",
                                     problems=list(text["problems"]), stickers=2)
    problems = await voting_store.problems(db, vote.id)
    for n, (person, group) in enumerate(zip(residents, GROUPS, strict=True)):
        picks = [(n + k) % 3 for k in range(1 + n % 2)]
        for slot, index in enumerate(picks, start=1):
            await voting_store.insert_sticker(db, vote.id, person.id, slot, problems[index].id,
                                              group)
    await voting_store.set_offline(db, vote.id, {problems[1].id: 3})
    await voting_store.close(db, vote.id)
    round_ = await brainstorm_store.open_round(db, cid, str(text["prompt"]), coordinator.id)
    assert round_ is not None
    for n, problem in enumerate(text["problems"]):  # type: ignore[arg-type]
        card = await brainstorm_store.add_card(db, round_.id, residents[n].id, problem, None)
        for supporter in residents[: 4 - n]:
            await brainstorm_store.toggle_support(db, card, supporter.id)
    plan = await plan_store.create_plan(db, cid, str(text["plan"]), coordinator.id)
    today = date.today()
    for n, title in enumerate(text["tasks"]):  # type: ignore[arg-type]
        task = await plan_store.add_task(
            db, plan.id, coordinator.id, title=title, responsible_id=residents[n].id,
            starts_on=today - timedelta(days=25 - 15 * n),
            due_on=today - timedelta(days=3) + timedelta(days=20 * n))
        await plan_store.change_task(db, task, coordinator.id, progress=40 + 30 * n)
    await plan_store.add_tree_item(db, plan.id, "cause", str(text["cause"]), coordinator.id,
                                   "accepted")
    indicator = await plan_store.add_indicator(
        db, plan.id, name=str(text["indicator"]), unit=str(text["unit"]), baseline=5,
        target=30, direction="up", task_id=None)
    for days, value in ((40, 5), (25, 8), (10, 13), (1, 17)):
        await plan_store.add_reading(db, indicator, value, today - timedelta(days=days), None,
                                     coordinator.id)
    survey = await survey_store.create(
        db, cid, coordinator.id, title={lang: str(text["survey"])}, intro={}, anonymous=True,
        opens_at=None, closes_at=None, questions=[
            {"kind": "single", "prompt": {lang: str(text["question"])},
             "options": [{lang: o} for o in text["options"]]},  # type: ignore[attr-defined]
            {"kind": "scale", "prompt": {lang: "1–5"}}])
    for n, person in enumerate(residents[:5]):
        response = await survey_store.start(db, survey.id, person.id, lang)
        await survey_store.answer(db, response.id, survey.questions[0].id, n % 2, 1)
        await survey_store.answer(db, response.id, survey.questions[1].id, 1 + n % 5, 2)
        await survey_store.finish(db, survey, response)
    user = {"id": coordinator.id, "first_name": coordinator.name, "language_code": lang}
    return cid, user


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking"])
        yield launched
        await launched.close()


async def _series(page: Page) -> list[list[object]]:
    """[chart name, datasets] of every chart drawn, read from Chart.js itself."""
    return await page.evaluate(  # type: ignore[no-any-return]
        "() => [...document.querySelectorAll('canvas')].map(c => "
        "[c.dataset.chart, Chart.getChart(c) ? Chart.getChart(c).data.datasets.length : 0])")


async def _open(page: Page, section: str) -> None:
    await page.locator(".tab").nth(["participation", "priorities", "plan", "indicators",
                                    "surveys"].index(section)).click()
    await expect(page.locator("body")).to_have_attribute("data-ready", section)


@pytest.mark.parametrize("lang", ["fa", "he", "en"])
async def test_the_dashboard_on_a_phone(harness: Harness, browser: Browser, lang: str,
                                        tmp_path: Path) -> None:
    _cid, user = await _community(harness, lang)
    server = await DashboardServer.start(
        Settings(db=harness.db, token=harness.config.token or "",
                 admins=harness.config.admins), "127.0.0.1", 0)
    shots = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    pages = tmp_path  # every section, the whole page: to look at when a layout changes
    try:
        page = await browser.new_page(viewport=PHONE, device_scale_factor=2)
        blocked: list[str] = []
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text)
                if "Content Security Policy" in m.text else None)

        async def offline(route):  # type: ignore[no-untyped-def]
            blocked.append(route.request.url)
            await route.abort()

        await page.route("https://telegram.org/**", offline)
        # Hebrew in Telegram's night theme, the others in its day theme.
        theme = DARK if lang == "he" else LIGHT
        fragment = urlencode({"tgWebAppData": init_data_for(user, harness.config.token or ""),
                              "tgWebAppThemeParams": json.dumps(theme)})
        await page.goto(f"{server.base}/dashboard/#{fragment}")
        await expect(page.locator("body")).to_have_attribute("data-ready", "participation")
        assert blocked, "the page asks for telegram-web-app.js, as Telegram requires"
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == _rgb(theme["secondary_bg_color"])
        direction = await page.evaluate("document.documentElement.dir")
        assert direction == ("ltr" if lang == "en" else "rtl")
        groups_with_members = len(set(GROUPS)) + 1  # and the coordinator's NGOs
        charts = await _series(page)
        assert charts == [["members", 1], ["participation", 1 + groups_with_members]]
        await page.screenshot(path=str(pages / f"dashboard-{lang}-participation.png"),
                              full_page=True)

        await _open(page, "priorities")
        assert await _series(page) == [["vote-" + str(await _vote_id(harness, lang)), 2],
                                       ["brainstorm", 1]]
        summary = await page.locator(".summary").first.inner_text()
        if lang == "fa":
            assert PERSIAN_DIGIT.search(summary) and not LATIN_DIGIT.search(summary), summary
        else:
            assert LATIN_DIGIT.search(summary), summary
        await expect(page.locator(".ranking li").first).to_contain_text(
            TEXTS[lang]["problems"][1])  # type: ignore[index]
        await page.screenshot(path=str(shots / f"dashboard-{lang}.png"))
        await page.screenshot(path=str(pages / f"dashboard-{lang}-priorities.png"),
                              full_page=True)

        await _open(page, "plan")
        assert await _series(page) == [["timeline", 2]]
        await expect(page.locator("ul.tasks li.overdue")).to_have_count(1)
        await expect(page.locator(".tree .trunk")).to_have_text(str(TEXTS[lang]["plan"]))
        await page.screenshot(path=str(pages / f"dashboard-{lang}-plan.png"), full_page=True)

        await _open(page, "indicators")
        assert await _series(page) == [["indicator", 3]]
        await page.screenshot(path=str(pages / f"dashboard-{lang}-indicators.png"),
                              full_page=True)

        await _open(page, "surveys")
        assert await _series(page) == [["question", 1], ["question", 1]]
        async with page.expect_download() as waiting:
            await page.locator("button[data-export=xlsx]").click()
        download = await waiting.value
        assert download.suggested_filename.endswith(".xlsx")
        await page.screenshot(path=str(pages / f"dashboard-{lang}-surveys.png"),
                              full_page=True)
        if lang == "fa":
            text = await page.locator("#view").inner_text()
            assert not LATIN_DIGIT.search(text.replace("1–5", "")), text
        assert not violations, violations
        await page.close()
    finally:
        await server.stop()


async def _vote_id(harness: Harness, lang: str) -> int:
    return int(await harness.db.fetchval("SELECT id FROM prioritisations WHERE title = ?",
                                         (TEXTS[lang]["vote"],)))


async def test_the_sandbox_shows_the_dashboard_with_no_configuration(
        tmp_path: Path, browser: Browser) -> None:
    process, url = await _start_sandbox(tmp_path)
    try:
        page = await browser.new_page(viewport={"width": 1300, "height": 760})
        await page.goto(url + "/")
        await page.locator("#people-list li", has_text="Sara").click()
        # /dashboard gave the coordinator a menu button; a resident types /dashboard.
        await expect(page.locator("#menu-button")).to_be_visible()
        await page.locator("#menu-button").click()
        frame = page.frame_locator("#webapp-frame")
        await expect(frame.locator("body")).to_have_attribute("data-ready", "participation")
        await expect(frame.locator("#community")).to_contain_text("Demo neighbourhood")
        await frame.locator(".tab").nth(1).click()
        await expect(frame.locator("body")).to_have_attribute("data-ready", "priorities")
        await expect(frame.locator("canvas[data-chart=brainstorm]")).to_have_count(1)
        await page.screenshot(path=str(tmp_path / "sandbox-dashboard.png"))
    finally:
        await _stop(process)
