"""The sandbox: ``python -m bot run`` without a token, and its web chat in a real browser.

The browser test drives Debian's Chromium (``/usr/bin/chromium``, or ``CHROMIUM_PATH``)
headless through Playwright; ``.ci/run`` installs both. It saves a screenshot to
``SANDBOX_SCREENSHOT`` (default: the test's temporary directory) — the README's picture is
made this way.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.request import urlopen

import pytest
from playwright.async_api import Page, async_playwright, expect

from bot.i18n import Translator
from bot.labels import GROUP_LABELS
from bot.sandbox.web import is_rtl, sanitize

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


# -- what the page is given ----------------------------------------------------------------


def test_sanitize_keeps_telegram_tags_only() -> None:
    dirty = ('<b>bold</b> <script>alert(1)</script><img src=x onerror=alert(1)>'
             '<a href="javascript:alert(1)">x</a> <i onclick="x()">i</i>')
    clean = sanitize(dirty)
    assert "<script" not in clean and "<img" not in clean and "onclick" not in clean
    assert "javascript:" not in clean
    assert "<b>bold</b>" in clean and "<i>i</i>" in clean
    assert "alert(1)" in clean  # the script's text is shown as text, not run


def test_sanitize_links_bare_urls_like_telegram() -> None:
    clean = sanitize("Residents: https://t.me/bot?start=AbC_1-x.")
    assert '<a href="https://t.me/bot?start=AbC_1-x"' in clean
    assert clean.endswith("</a>.")


def test_direction_follows_our_text_not_isolated_names() -> None:
    assert is_rtl("به ⁨Green Street⁩ خوش آمدید")
    assert not is_rtl("Welcome to ⁨محله سبز⁩!")
    assert is_rtl("ברוכים הבאים")
    assert not is_rtl("Қош келдіңіз")


# -- the real command ----------------------------------------------------------------------


async def _start_sandbox(tmp_path: Path) -> tuple[asyncio.subprocess.Process, str]:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env.update({"DATABASE_PATH": str(tmp_path / "data" / "mahfil.sqlite3"), "SANDBOX_PORT": "0"})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
    match = re.search(rb"open (http://127\.0\.0\.1:\d+)/", line)
    if match is None:
        process.kill()
        _, err = await process.communicate()
        raise AssertionError(f"no address printed: {line!r}\n{err.decode()[-3000:]}")
    return process, match[1].decode()


async def _stop(process: asyncio.subprocess.Process) -> bytes:
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()[-3000:]
    return err


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[str]:
    process, url = await _start_sandbox(tmp_path)
    try:
        yield url
    finally:
        if process.returncode is None:
            await _stop(process)


async def _get(url: str) -> dict:
    return json.loads(await asyncio.to_thread(lambda: urlopen(url, timeout=30).read()))


async def test_run_without_a_token_starts_the_sandbox(tmp_path: Path) -> None:
    process, url = await _start_sandbox(tmp_path)
    info = await _get(f"{url}/sandbox/api/people")
    err = await _stop(process)
    assert b"TELEGRAM_BOT_TOKEN" in err and b"BotFather" in err  # how to leave the sandbox
    languages = {p["language"] for p in info["people"]}
    roles = {p["role"] for p in info["people"]}
    assert {"fa", "kk", "he", "en"} <= languages
    assert {"admin", "coordinator"} <= roles
    assert info["community"] and {i["kind"] for i in info["invites"]} == {"resident",
                                                                          "coordinator"}
    assert (tmp_path / "data" / "sandbox.sqlite3").exists()  # never the real database
    assert not (tmp_path / "data" / "mahfil.sqlite3").exists()


# -- the web chat in Chromium --------------------------------------------------------------


async def _tap(page: Page, label: str, *, exact: bool = False) -> None:
    """Tap the newest button whose label contains ``label`` — or, with ``exact``, is it
    ("לאשר" is also inside "לא לאשר")."""
    text: str | re.Pattern[str] = (re.compile(rf"^\s*{re.escape(label)}\s*$") if exact
                                   else label)
    await page.locator("#messages .keyboard button", has_text=text).last.click()


async def test_a_persian_resident_joins_and_takes_part_in_the_browser(
    sandbox: str, tmp_path: Path
) -> None:
    fa = Translator("fa")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking"],
        )
        page = await browser.new_page(viewport={"width": 1100, "height": 760})
        await page.goto(sandbox + "/")

        # The admin's chat shows the community and its invitation links, formatted.
        await page.locator("#people-list li", has_text="Admin").click()
        await expect(page.locator("#messages")).to_contain_text("Demo neighbourhood")
        assert await page.locator("#messages a[href*='t.me/']").count() == 2

        # Maryam (Telegram language fa) opens the resident link: everything is in Persian.
        await page.locator("#people-list li", has_text="مریم").click()
        await expect(page.locator("#chat-lang")).to_have_text("fa")
        await page.locator("#invites a[data-kind=resident]").click()
        await expect(page.locator("#messages .keyboard button").first).to_be_visible()
        await _tap(page, fa._(GROUP_LABELS["vulnerable"]))
        await _tap(page, fa._("I agree"), exact=True)
        welcome = page.locator("#messages li.msg", has_text="Demo neighbourhood").last
        await expect(welcome).to_have_attribute("dir", "rtl")
        await expect(page.locator("#people-list li", has_text="مریم")).to_contain_text(
            "resident · fa"
        )

        # Flows: /help; the demo brainstorm's board, with a "me too" on its first problem;
        # then /mydata, whose answer is a document the page can download.
        await page.locator("#text").fill("/help")
        await page.locator("#composer button").click()
        await expect(page.locator("#messages li.msg").last).to_have_attribute("dir", "rtl")
        await page.locator("#text").fill("/problems")
        await page.locator("#composer button").click()
        board = page.locator("#messages li.msg", has_text="The street lights").last
        await expect(board).to_be_visible()
        await _tap(page, "The street lights")
        await expect(page.locator("#messages .keyboard button",
                                  has_text="The street lights").last).to_contain_text("✅")
        await page.locator("#text").fill("/mydata")
        await page.locator("#composer button").click()
        document = page.locator("#messages a.doc").last
        await expect(document).to_be_visible()
        href = await document.get_attribute("href")
        assert href is not None
        data = await _get(sandbox + href)
        assert data["user"]["language"] == "fa"

        shot = Path(os.environ.get("SANDBOX_SCREENSHOT") or tmp_path / "sandbox.png")
        await page.locator("#text").fill("")
        await page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        await browser.close()


async def test_the_web_chat_behaves_as_telegram_does(sandbox: str, tmp_path: Path) -> None:
    """Issue 18: a text area (Enter sends, Shift+Enter adds a line), a mirrored pane for
    right-to-left languages, unread badges, a hint in a chat not joined yet, a favicon —
    and the demo's sticker vote over its two problems needs no impossible sticker."""
    he = Translator("he")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking"],
        )
        page = await browser.new_page(viewport={"width": 1100, "height": 760})
        await page.goto(sandbox + "/")
        await page.locator("#people-list li", has_text="Admin").click()
        await expect(page.locator("#messages")).to_contain_text("Demo neighbourhood")

        # The coordinator was sent messages while the demo was prepared: a badge says how many.
        sara = page.locator("#people-list li", has_text="Sara")
        await expect(sara.locator(".unread")).to_have_text(re.compile(r"^[1-9][0-9]*$"))
        assert await page.locator("#people-list li", has_text="Admin").locator(
            ".unread").count() == 0

        # Noa has not joined: her empty chat says what to do. She joins; her chat is mirrored.
        await page.locator("#people-list li", has_text="נועה").click()
        await expect(page.locator("#messages .empty")).to_contain_text(
            "has not joined the demo community yet")
        await page.locator("#invites a[data-kind=resident]").click()
        await expect(page.locator("#messages .keyboard button").first).to_be_visible()
        await _tap(page, he._(GROUP_LABELS["activist"]))
        await _tap(page, he._("I agree"), exact=True)
        await expect(page.locator("#people-list li", has_text="נועה")).to_contain_text(
            "resident · he")  # joined: the welcome has come
        welcome = page.locator("#messages li.msg", has_text="/help").last
        await expect(welcome).to_have_attribute("dir", "rtl")
        await expect(page.locator("#messages")).to_have_attribute("dir", "rtl")
        # Measured in one go in the page (the chat is redrawn whenever anything changes).
        left, right, start, end = await page.evaluate("""() => {
            const pane = document.getElementById("messages").getBoundingClientRect();
            const rtl = [...document.querySelectorAll("#messages li.msg.me ~ li.msg[dir=rtl]")];
            const box = rtl[rtl.length - 1].getBoundingClientRect();
            return [pane.left, pane.right, box.left, box.right];
        }""")
        assert end > right - 40 and start > left + 40  # the bot's bubble on the right
        await page.screenshot(path=str(tmp_path / "rtl.png"))

        # Sara's badge goes once her chat is open. She types two problems on two lines.
        await sara.click()
        await expect(sara.locator(".unread")).to_have_count(0)
        await expect(page.locator("#messages")).to_have_attribute("dir", "ltr")
        box = page.locator("#text")
        for text in ("/prioritise", "Our lane"):
            await box.fill(text)
            await box.press("Enter")
            await expect(page.locator("#messages li.msg.me").last).to_have_text(text)
        await _tap(page, "Stickers")
        await expect(page.locator("#messages li.msg").last).to_contain_text("one per line")
        await box.press_sequentially("Broken street lights")
        await box.press("Shift+Enter")
        await box.press_sequentially("No safe place to play")
        assert await box.input_value() == "Broken street lights\nNo safe place to play"
        await box.press("Enter")
        mine = page.locator("#messages li.msg.me").last
        await expect(mine).to_have_text("Broken street lights\nNo safe place to play")
        # Two problems: two stickers are suggested, and three are capped at two.
        await expect(page.locator("#messages .keyboard button", has_text="2 ✓")).to_be_visible()
        await _tap(page, "3")
        await _tap(page, "No, one per problem")
        await _tap(page, "When I close it")
        preview = page.locator("#messages li.msg", has_text="Preview:").last
        await expect(preview).to_contain_text("2 stickers per resident.")
        await expect(preview).to_contain_text("(Not 3: with one sticker per problem")
        await _tap(page, "Open the vote")
        # Noa is told of the vote while Sara's chat is open: her badge shows it.
        noa = page.locator("#people-list li", has_text="נועה")
        await expect(noa.locator(".unread")).to_have_text(re.compile(r"^[1-9][0-9]*$"))
        await page.screenshot(path=str(tmp_path / "badge.png"))

        # The page's icon, and the one browsers ask for by themselves.
        assert await page.locator("link[rel=icon]").get_attribute("href") == "/favicon.ico"
        icon = await page.request.get(sandbox + "/favicon.ico")
        assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon"
        assert (await icon.body())[:4] == b"\x00\x00\x01\x00"  # an ICO file
        await browser.close()
    shots = os.environ.get("SANDBOX_ISSUE18_SHOTS")
    if shots:  # for a person to look at
        for name in ("rtl.png", "badge.png"):
            Path(shots, name).write_bytes((tmp_path / name).read_bytes())
