"""The result as a PNG bar chart, with Persian, Hebrew and Kazakh labels that read right.

Matplotlib ≥ 3.11 lays text out with libraqm: Persian letters are joined into their
contextual forms and right-to-left runs ordered by the Unicode bidi algorithm, so labels are
passed as they are (shaping them again with arabic-reshaper/python-bidi would reverse them;
we looked). Fonts: Debian's Noto (``fonts-noto-core``) covers Arabic script, Hebrew and
Cyrillic; matplotlib falls back from one family to the next per glyph. Right-to-left charts
are mirrored: labels on the right, bars growing to the left.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib import font_manager
from matplotlib.figure import Figure

NOTO = Path("/usr/share/fonts/truetype/noto")
FAMILIES = ["Noto Sans", "Noto Sans Arabic", "Noto Sans Hebrew", "DejaVu Sans"]
_registered = False


def _fonts() -> None:
    global _registered
    if _registered:
        return
    for name in ("NotoSans-Regular.ttf", "NotoSansArabic-Regular.ttf",
                 "NotoSansHebrew-Regular.ttf"):
        if (NOTO / name).exists():
            font_manager.fontManager.addfont(str(NOTO / name))
    _registered = True


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], *, rtl: bool,
              value_labels: Sequence[str] | None = None) -> bytes:
    """A horizontal bar chart, best first at the top; bars grow from the reading side."""
    _fonts()
    count = max(len(labels), 1)
    # Figure without pyplot: no global state, so charts can be drawn in a worker thread.
    figure = Figure(figsize=(8, 1.2 + 0.5 * count), dpi=110)
    axes = figure.subplots()
    positions = list(range(count))[::-1]
    short = [label if len(label) <= 48 else label[:47] + "…" for label in labels]
    axes.barh(positions, values, color="#2a7ab0")
    axes.set_yticks(positions, short,
                    fontfamily=FAMILIES, fontsize=10)
    axes.set_title(title, fontfamily=FAMILIES, fontsize=13)
    for spine in ("top", "right", "left"):
        axes.spines[spine].set_visible(False)
    axes.tick_params(axis="y", length=0)
    axes.set_xticks([])
    top = max(values) if values and max(values) > 0 else 1
    axes.set_xlim(0, top * 1.15)
    for y, value, text in zip(positions, values, value_labels or [], strict=False):
        axes.text(value + top * 0.01, y, text, va="center",
                  fontfamily=FAMILIES, fontsize=9)
    if rtl:
        # Right-to-left readers start at the right: labels on the right, bars growing left.
        axes.invert_xaxis()
        axes.yaxis.tick_right()
        for value_text in axes.texts:
            value_text.set_horizontalalignment("right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
