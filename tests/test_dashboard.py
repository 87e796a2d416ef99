"""The dashboard (issue 20): initData checks, who may see what, and figures that match the
database. The aiohttp application is called for real (aiohttp's test server on 127.0.0.1),
over the harness's database with people who joined through the bot."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Config
from bot.emulator import Emulator, Person
from bot.webapp.auth import InitDataError, init_data_for, sign, verify
from bot.webapp.server import Settings, create_app
from storage import plan as plan_store
from storage import survey as survey_store
from storage import voting as voting_store
from tests.harness import Harness, Invitation, step, tr

TOKEN = "123456:TEST-TOKEN"


def _user(person: Person) -> dict[str, Any]:
    return {"id": person.id, "first_name": person.name, "language_code": person.language_code}


def _auth(person: Person, token: str = TOKEN, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": "tma " + init_data_for(_user(person), token, **kwargs)}


# -- initData ----------------------------------------------------------------------------------


def test_valid_init_data_names_its_user() -> None:
    data = init_data_for({"id": 42, "first_name": "Maryam", "language_code": "fa"}, TOKEN)
    user = verify(data, TOKEN)
    assert (user.id, user.first_name, user.language_code) == (42, "Maryam", "fa")


def test_signature_matches_telegrams_recipe() -> None:
    """secret = HMAC_SHA256("WebAppData", token); hash = HMAC_SHA256(secret, check string)."""
    import hashlib
    import hmac
    from urllib.parse import parse_qsl

    fields = {"auth_date": "1700000000", "query_id": "AAH", "user": '{"id":7}'}
    signed = dict(parse_qsl(sign(fields, TOKEN)))
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    check = b'auth_date=1700000000\nquery_id=AAH\nuser={"id":7}'
    assert signed["hash"] == hmac.new(secret, check, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("case", ["forged", "other-token", "expired", "no-hash", "twice",
                                  "garbage", "future", "no-user"])
def test_bad_init_data_is_refused(case: str) -> None:
    good = init_data_for({"id": 42, "first_name": "A"}, TOKEN)
    data = {
        "forged": good.replace("%2242%22", "%2243%22").replace("%3A42", "%3A43"),
        "other-token": init_data_for({"id": 42, "first_name": "A"}, "999:OTHER-TOKEN"),
        "expired": init_data_for({"id": 42}, TOKEN, auth_date=int(time.time()) - 3601),
        "no-hash": "&".join(p for p in good.split("&") if not p.startswith("hash=")),
        "twice": good + "&auth_date=1",
        "garbage": "%%%&&&",
        "future": init_data_for({"id": 42}, TOKEN, auth_date=int(time.time()) + 600),
        "no-user": sign({"auth_date": str(int(time.time()))}, TOKEN),
    }[case]
    with pytest.raises(InitDataError):
        verify(data, TOKEN)


def test_an_hour_old_is_still_accepted_a_second_more_is_not() -> None:
    now = 1_800_000_000
    data = init_data_for({"id": 1}, TOKEN, auth_date=now - 3600)
    assert verify(data, TOKEN, now=now).id == 1
    with pytest.raises(InitDataError):
        verify(data, TOKEN, now=now + 1)


# -- the server, over a real community ---------------------------------------------------------


class Town:
    """Two communities: Green Street (a coordinator, three residents, a closed sticker vote,
    an open one, a survey, a plan) and Blue Street (one resident, a vote of its own)."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness

    async def build(self) -> None:
        h = self.harness
        self.green: Invitation = await h.new_community("Green Street")
        self.blue: Invitation = await h.new_community("Blue Street")
        self.coordinator = await h.coordinator(self.green, "en", group="ngo")
        self.maryam = await h.resident(self.green, "fa", group="vulnerable", name="مریم")
        self.noa = await h.resident(self.green, "he", group="activist", name="נועה")
        self.sam = await h.resident(self.green, "en", group="activist", name="Sam")
        self.outsider = await h.resident(self.blue, "en", group="business", name="Bo")
        db, green = h.db, self.green.community.id
        self.closed = await voting_store.create(
            db, green, title="Green priorities", method="stickers",
            problems=["Street lights", "Playground", "Litter"], stickers=2)
        problems = await voting_store.problems(db, self.closed.id)
        for person, group, picks in ((self.maryam, "vulnerable", (0, 1)),
                                     (self.noa, "activist", (1,)),
                                     (self.sam, "activist", (1, 2))):
            for slot, index in enumerate(picks, start=1):
                await voting_store.insert_sticker(db, self.closed.id, person.id, slot,
                                                  problems[index].id, group)
        await voting_store.set_offline(db, self.closed.id, {problems[0].id: 4})
        await voting_store.close(db, self.closed.id)
        self.open = await voting_store.create(
            db, green, title="Secret open vote", method="stickers", problems=["A1", "B2"])
        self.foreign = await voting_store.create(
            db, self.blue.community.id, title="Blue only vote", method="stickers",
            problems=["Blue thing", "Other blue thing"])
        self.survey = await survey_store.create(
            db, green, self.coordinator.id, title={"en": "Needs"}, intro={}, anonymous=False,
            opens_at=None, closes_at=None, questions=[
                {"kind": "single", "prompt": {"en": "Which problem?"},
                 "options": [{"en": "Roads"}, {"en": "Lights"}]},
                {"kind": "text", "prompt": {"en": "Anything else?"}, "required": False}])
        for person, choice in ((self.maryam, 1), (self.sam, 1), (self.noa, 0)):
            response = await survey_store.start(db, self.survey.id, person.id, "en")
            await survey_store.answer(db, response.id, self.survey.questions[0].id, choice, 1)
            if person is self.sam:
                await survey_store.answer(db, response.id, self.survey.questions[1].id,
                                          "<img src=x onerror=alert(1)>", 2)
            await survey_store.finish(db, self.survey, response)
        plan = await plan_store.create_plan(db, green, "No safe place to play",
                                            self.coordinator.id)
        today = date.today()
        await plan_store.add_task(db, plan.id, self.coordinator.id, title="Ask the city hall",
                                  responsible_id=self.noa.id,
                                  starts_on=today - timedelta(days=20),
                                  due_on=today - timedelta(days=2))
        await plan_store.add_task(db, plan.id, self.coordinator.id, title="Clean the yard",
                                  responsible_id=self.sam.id, starts_on=today,
                                  due_on=today + timedelta(days=10))
        cause = await plan_store.add_tree_item(db, plan.id, "cause", "No budget",
                                               self.sam.id, "accepted")
        await plan_store.add_tree_item(db, plan.id, "cause", "Proposed only", self.sam.id)
        sub = await plan_store.add_tree_item(db, plan.id, "cause", "Budget goes elsewhere",
                                             self.sam.id, "accepted")
        await plan_store.curate_tree_item(db, sub, "accepted", cause)
        indicator = await plan_store.add_indicator(
            db, plan.id, name="Children playing outside", unit="children", baseline=5,
            target=30, direction="up", task_id=None)
        for days, value in ((30, 5), (15, 9), (1, 14)):
            await plan_store.add_reading(db, indicator, value, today - timedelta(days=days),
                                         None, self.coordinator.id)


@pytest.fixture
async def town(harness: Harness) -> Town:
    built = Town(harness)
    await built.build()
    return built


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    settings = Settings(db=harness.db, token=harness.config.token or "",
                        admins=harness.config.admins)
    async with TestClient(TestServer(create_app(settings))) as test_client:
        yield test_client


async def _get(client: TestClient, path: str,  # type: ignore[type-arg]
               headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    response = await client.get(path, headers=headers or {})
    body = await response.text()
    return response.status, body, response.headers


async def test_every_refusal_is_401_or_403_with_nothing_of_the_data(
        town: Town, client: TestClient) -> None:  # type: ignore[type-arg]
    good = init_data_for(_user(town.coordinator), TOKEN)
    forged = good.replace(str(town.coordinator.id), str(town.maryam.id))
    cases = [
        ("no initData", {}, 401),
        ("forged", {"Authorization": "tma " + forged}, 401),
        ("expired", _auth(town.coordinator, auth_date=int(time.time()) - 7200), 401),
        ("another token", _auth(town.coordinator, token="654321:SOMEONE-ELSES"), 401),
        ("bearer, not tma", {"Authorization": "Bearer " + good}, 401),
    ]
    for section in ("priorities", "participation", "surveys", "plan"):
        for name, headers, status in cases:
            code, body, response_headers = await _get(
                client, f"/dashboard/api/section/{section}", headers)
            assert code == status, (name, section, code)
            assert "Green" not in body and "Street lights" not in body, (name, body)
            assert response_headers["Cache-Control"] == "no-store"
    # A member of Blue Street asking for Green Street's figures.
    for section in ("priorities", "participation", "plan", "indicators"):
        code, body, _ = await _get(
            client, f"/dashboard/api/section/{section}?community={town.green.community.id}",
            _auth(town.outsider))
        assert code == 403, section
        assert "Street lights" not in body and "No safe place" not in body
    # A resident asking for coordinators' data: surveys and their exports.
    for path in ("/dashboard/api/section/surveys",
                 f"/dashboard/api/surveys/{town.survey.id}/export.csv",
                 f"/dashboard/api/surveys/{town.survey.id}/export.xlsx"):
        code, body, _ = await _get(client, path, _auth(town.maryam))
        assert code == 403, path
        assert "Needs" not in body and "Roads" not in body
        assert json.loads(body)["message"] == tr(
            town.maryam, "Only coordinators of this community can see this.")
    # Someone who never joined anything.
    stranger = town.harness.person("en")
    code, _body, _ = await _get(client, "/dashboard/api/overview", _auth(stranger))
    assert code == 403


async def test_a_member_of_another_community_sees_only_their_own(
        town: Town, client: TestClient) -> None:  # type: ignore[type-arg]
    code, body, _ = await _get(client, "/dashboard/api/section/priorities",
                               _auth(town.outsider))
    assert code == 200
    assert "Green priorities" not in body and "Street lights" not in body
    # Blue's open vote is not shown to its resident either: results come when it closes.
    assert json.loads(body)["votes"] == []
    code, body, _ = await _get(client, "/dashboard/api/overview", _auth(town.outsider))
    assert json.loads(body)["community"]["name"] == "Blue Street"


async def test_residents_see_closed_results_exactly_as_counted(
        town: Town, client: TestClient) -> None:  # type: ignore[type-arg]
    code, body, _ = await _get(client, "/dashboard/api/section/priorities", _auth(town.sam))
    assert code == 200
    data = json.loads(body)
    titles = [v["title"] for v in data["votes"]]
    assert titles == ["Green priorities"]  # the open vote is for coordinators only
    vote = data["votes"][0]
    db = town.harness.db
    stored = {r["title"]: r["n"] for r in await db.fetchall(
        "SELECT p.title, COUNT(s.rowid) AS n FROM vote_problems p LEFT JOIN stickers s"
        " ON s.problem_id = p.id WHERE p.prioritisation_id = ? GROUP BY p.id",
        (town.closed.id,))}
    paper = {r["title"]: r["offline"] for r in await db.fetchall(
        "SELECT title, offline FROM vote_problems WHERE prioritisation_id = ?",
        (town.closed.id,))}
    chat, on_paper = vote["series"]
    assert dict(zip(vote["labels"], chat["data"], strict=True)) == stored
    assert dict(zip(vote["labels"], on_paper["data"], strict=True)) == paper
    assert vote["labels"][0] == "Street lights"  # 1 in chat + 4 on paper beat 3 in chat
    voters = await db.fetchval(
        "SELECT COUNT(DISTINCT user_id) FROM stickers WHERE prioritisation_id = ?",
        (town.closed.id,))
    assert vote["voters"] == voters == 3


async def test_coordinators_see_everything_of_their_community(
        town: Town, client: TestClient) -> None:  # type: ignore[type-arg]
    headers = _auth(town.coordinator)
    _code, body, _ = await _get(client, "/dashboard/api/overview", headers)
    overview = json.loads(body)
    assert [s["key"] for s in overview["sections"]] == [
        "participation", "priorities", "plan", "indicators", "surveys"]
    assert overview["step"] is None
    _, body, _ = await _get(client, "/dashboard/api/section/priorities", headers)
    assert {v["title"] for v in json.loads(body)["votes"]} == {"Green priorities",
                                                               "Secret open vote"}
    _, body, _ = await _get(client, "/dashboard/api/section/participation", headers)
    data = json.loads(body)
    db = town.harness.db
    members = {r["stakeholder_group"]: r["n"] for r in await db.fetchall(
        "SELECT stakeholder_group, COUNT(*) AS n FROM memberships WHERE community_id = ?"
        " GROUP BY stakeholder_group", (town.green.community.id,))}
    assert data["total"] == sum(members.values())  # the admin who created it is none
    assert None not in members
    assert data["members"]["series"][0]["data"] == [members["activist"], members["vulnerable"],
                                                    members["ngo"]]
    vote = next(e for e in data["events"] if e["title"] == "Green priorities")
    assert vote["took_part"] == 3
    _, body, _ = await _get(client, "/dashboard/api/section/surveys", headers)
    survey = json.loads(body)["surveys"][0]
    choice, text = survey["questions"]
    assert dict(zip(choice["labels"], choice["series"][0]["data"], strict=True)) == {
        "Roads": 1, "Lights": 2}
    assert text["texts"] == ["<img src=x onerror=alert(1)>"]  # data, never markup
    response = await client.get(f"/dashboard/api/surveys/{town.survey.id}/export.csv",
                                headers=headers)
    assert response.status == 200
    csv_text = (await response.read()).decode("utf-8-sig")
    assert "Lights" in csv_text and "Sam" in csv_text
    response = await client.get(f"/dashboard/api/surveys/{town.survey.id}/export.xlsx",
                                headers=headers)
    assert (await response.read())[:2] == b"PK"


async def test_plan_and_indicators_in_persian(
        town: Town, client: TestClient) -> None:  # type: ignore[type-arg]
    _, body, _ = await _get(client, "/dashboard/api/section/plan", _auth(town.maryam))
    plan = json.loads(body)["plans"][0]
    tasks = plan["timeline"]["tasks"]
    assert [t["title"] for t in tasks] == ["Ask the city hall", "Clean the yard"]
    assert [t["overdue"] for t in tasks] == [True, False]
    assert tasks[0]["who"] == "נועה"
    assert "۰٪" in tasks[0]["text"]  # Persian digits
    assert plan["tree"]["causes"] == [{"text": "No budget", "children": [
        {"text": "Budget goes elsewhere", "children": []}]}]  # proposals are not shown
    _, body, _ = await _get(client, "/dashboard/api/section/indicators", _auth(town.maryam))
    indicator = json.loads(body)["indicators"][0]
    assert [s["data"] for s in indicator["series"]] == [[5, 9, 14], [5, 5, 5], [30, 30, 30]]
    assert not any(c.isascii() and c.isdigit() for c in "".join(indicator["labels"]))


async def test_the_page_and_its_headers(town: Town, client: TestClient) -> None:  # type: ignore[type-arg]
    code, body, headers = await _get(client, "/dashboard/")
    assert code == 200
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self' https://telegram.org;" in policy
    assert "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert "telegram-web-app.js" in body and "<script>" not in body
    code, _body, headers = await _get(client, "/dashboard/static/vendor/chart.umd.min.js")
    assert code == 200 and headers["Cache-Control"] == "no-store"
    code, _body, _ = await _get(client, "/dashboard/static/../server.py")
    assert code == 404
    assert "Set-Cookie" not in headers


async def test_dashboard_command_without_webapp_url_says_what_to_set(
        harness: Harness, town: Town) -> None:
    await step(harness, town.coordinator, "/dashboard", send=True)
    assert "WEBAPP_URL" in town.coordinator.texts()[-1]


async def test_dashboard_command_gives_the_button_and_coordinators_the_menu_button(
        harness: Harness, town: Town) -> None:
    url = "https://bot.example.org/dashboard/"
    harness.app.bot_data.webapp_url = url  # as WEBAPP_URL would
    await step(harness, town.coordinator, "/dashboard", send=True)
    [[button]] = town.coordinator.last["reply_markup"]["inline_keyboard"]
    assert button["web_app"] == {"url": url}
    assert button["text"] == tr(town.coordinator, "Open the dashboard")
    assert harness.emu.menu_buttons[town.coordinator.id] == {
        "type": "web_app", "text": tr(town.coordinator, "Dashboard"), "web_app": {"url": url}}
    await step(harness, town.maryam, "/dashboard", send=True)
    [[button]] = town.maryam.last["reply_markup"]["inline_keyboard"]
    assert button["web_app"] == {"url": url}
    assert town.maryam.id not in harness.emu.menu_buttons  # residents keep the command menu


async def test_serve_starts_the_dashboard_when_webapp_url_is_set(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    emu = Emulator()
    config = Config(token=emu.token, api_url="http://emulator/bot",
                    file_url="http://emulator/file/bot",
                    database_path=tmp_path / "mahfil.sqlite3",
                    webapp_url="https://bot.example.org/board/", webapp_listen="127.0.0.1",
                    webapp_port=port)
    harness = Harness(emu=emu, database_path=config.database_path, config=config)
    await harness.start()
    try:
        async with ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/board/") as response:
                assert response.status == 200
                assert "static/app.js" in await response.text()
            async with session.get(f"http://127.0.0.1:{port}/board/api/overview") as response:
                assert response.status == 401
    finally:
        await harness.stop()
        await emu.close()


async def test_one_time_download_links_for_telegrams_download_file(
        town: Town, client: TestClient) -> None:  # type: ignore[type-arg]
    path = f"/dashboard/api/surveys/{town.survey.id}/link.csv"
    code, _body, _ = await _get(client, path, _auth(town.maryam))
    assert code == 403  # residents get no link
    code, body, _ = await _get(client, path, _auth(town.coordinator))
    link = json.loads(body)
    assert code == 200 and link["name"] == f"survey-{town.survey.id}.csv"
    response = await client.get(f"/dashboard/{link['path']}")
    assert response.status == 200
    assert "Lights" in (await response.read()).decode("utf-8-sig")
    assert response.headers["Cache-Control"] == "no-store"
    code, body, _ = await _get(client, f"/dashboard/{link['path']}")
    assert code == 404 and "Lights" not in body  # once only
    code, _body, _ = await _get(client, "/dashboard/download/guessed-token")
    assert code == 404
