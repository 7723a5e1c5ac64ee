"""Server-drawn SVG bar charts: horizontal bars, one labelled row each, so they stay
readable on a 360 px phone (the SVG scales to the width).
The numbers also go into a table next to the chart, for screen readers and for copying."""

from __future__ import annotations

from dataclasses import dataclass

# 300 units across: on a 360 px phone the chart is drawn about 1:1, so its 17-unit text
# is about 17 px there (and larger on wider screens, up to the 40rem the CSS allows).
WIDTH = 300
ROW = 34
LABEL = 98
VALUE = 80


@dataclass(frozen=True)
class Bar:
    label: str
    value: int  # minutes
    y: int
    width: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    width: int
    height: int
    label_width: int
    value_x: float


def bars(values: list[tuple[str, int]]) -> Chart:
    """A chart of (label, minutes), longest bar the full plot width."""
    plot = WIDTH - LABEL - VALUE
    top = max((v for _l, v in values), default=0) or 1
    drawn = [
        Bar(label, value, i * ROW, round(plot * value / top, 1) if value > 0 else 0)
        for i, (label, value) in enumerate(values)
    ]
    return Chart(drawn, WIDTH, max(len(values), 1) * ROW, LABEL, LABEL + plot + 4)
