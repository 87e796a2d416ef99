"""Plan rules without Telegram: the tree's outline, progress roll-up, indicators' progress,
and what people type for numbers and dates in any language and calendar."""

from __future__ import annotations

from datetime import date

import pytest

from bot.flows import plan as flow
from bot.flows import typed
from bot.flows.errors import Refused
from storage.plan import Indicator, Reading, Task, TreeItem


def _item(item_id: int, kind: str = "cause", parent: int | None = None,
          status: str = "accepted") -> TreeItem:
    return TreeItem(id=item_id, plan_id=1, kind=kind, text=f"i{item_id}", author_id=None,
                    status=status, parent_id=parent)


def test_tree_outline_nests_and_skips_what_is_not_accepted() -> None:
    items = [_item(1), _item(2, parent=1), _item(3, parent=2), _item(4),
             _item(5, status="proposed"), _item(6, "consequence"), _item(7, parent=99)]
    outline = [(b.depth, b.item.id) for b in flow.layout(items, "cause")]
    assert outline == [(0, 1), (1, 2), (2, 3), (0, 4), (0, 7)]
    assert [b.item.id for b in flow.layout(items, "consequence")] == [6]
    with pytest.raises(Refused):  # under its own branch
        flow.check_parent(items[0], items[2], items)
    with pytest.raises(Refused):  # a cause under a consequence
        flow.check_parent(items[3], items[5], items)
    flow.check_parent(items[3], items[2], items)


def _task(progress: int, due: date, status: str = "in_progress") -> Task:
    return Task(id=1, plan_id=1, title="t", responsible_id=1, accepted=True,
                starts_on=date(2026, 1, 1), due_on=due, status=status, progress=progress)


def test_progress_and_overdue() -> None:
    tasks = [_task(40, date(2026, 12, 20)), _task(0, date(2020, 1, 5)),
             _task(100, date(2020, 1, 5), "done")]
    assert flow.plan_progress(tasks) == 47 and flow.plan_progress([]) == 0
    today = date(2026, 11, 25)
    assert [flow.overdue(t, today) for t in tasks] == [False, True, False]


def test_indicator_progress_both_directions() -> None:
    up = Indicator(id=1, plan_id=1, task_id=None, name="lamps", unit="lamps", baseline=2,
                   target=10, direction="up")
    down = Indicator(id=2, plan_id=1, task_id=None, name="kids", unit="kids", baseline=30,
                     target=10, direction="down")
    day = date(2026, 11, 25)
    assert flow.toward_target(up, []) is None
    assert flow.toward_target(up, [Reading(6, day, None)]) == 0.5
    assert flow.toward_target(up, [Reading(12, day, None)]) == 1.0
    assert flow.toward_target(down, [Reading(40, day, None)]) == 0.0
    assert flow.toward_target(down, [Reading(20, day, None)]) == 0.5
    flow.check_indicator(2, 10, "up")
    for baseline, target, direction in ((2, 1, "up"), (2, 2, "up"), (30, 40, "down"),
                                        (1, 2, "sideways")):
        with pytest.raises(Refused):
            flow.check_indicator(baseline, target, direction)


def test_typed_numbers_and_dates() -> None:
    assert typed.to_day("۱۴۰۵-۰۹-۱۰") == date(2026, 12, 1)
    assert typed.to_day("2026/12/01") == date(2026, 12, 1)
    for wrong in ("tomorrow", "2026-13-01", "1405-13-40", ""):
        with pytest.raises(Refused):
            typed.to_day(wrong)
    assert typed.to_percent("۴۰") == 40 and typed.to_percent("100%") == 100
    for wrong in ("150", "-5", "half", "40.5"):
        with pytest.raises(Refused):
            typed.to_percent(wrong)
    assert typed.to_number("۱۲٫۵") == 12.5 and typed.to_number("12,5") == 12.5
    assert typed.to_number("-3") == -3
    for wrong in ("nan", "inf", "twelve"):
        with pytest.raises(Refused):
            typed.to_number(wrong)
    with pytest.raises(Refused):
        flow.check_schedule(date(2026, 12, 1), date(2026, 11, 30))
    assert typed.lines("a\n\n b \n", 10) == ["a", "b"]
