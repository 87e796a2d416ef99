"""bench/scale.py keeps working: built tiny and run once, every operation, no timing checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import scale


async def test_scale_bench_runs_tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "scale.sqlite3"
    markdown = await scale.run(["--members", "300", "--runs", "1", "--db", str(database)])
    printed = capsys.readouterr().out
    assert "built 300 members, 720 + 3,000 stickers, 150 survey responses in" in printed
    assert markdown[0].startswith("| operation | time 300 |")
    rows = markdown[2:]
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows] == list(scale.OPERATIONS)
    assert database.exists()  # kept where --db said


async def test_scale_bench_two_sizes_show_growth(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    markdown = await scale.run(["--members", "300,600", "--runs", "1", "--only",
                                "sticker_tally,/forgetme", "--db",
                                str(tmp_path / "scale.sqlite3")])
    assert "growth" in markdown[0]
    assert len(markdown) == 4  # the header, its rule and the two operations asked for
    assert (tmp_path / "scale-300.sqlite3").exists()
    assert (tmp_path / "scale-600.sqlite3").exists()
    assert "growth 300 → 600" in capsys.readouterr().out
