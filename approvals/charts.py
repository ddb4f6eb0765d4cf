"""Charts drawn on the server as SVG (issue 13): no script, no CDN, nothing inline that the
CSP would refuse. Each chart comes with the same numbers as a table for screen readers."""

from __future__ import annotations

from dataclasses import dataclass

# Level -> (word, colour, icon). The word and icon keep severity readable without colour.
LEVELS = {
    5: ("revert role", "#6b21a8", "⬢"),
    4: ("critical", "#b00020", "▲"),
    3: ("high", "#c2410c", "◆"),
    2: ("medium", "#a16207", "●"),
    1: ("low", "#1d4ed8", "○"),
    0: ("not rated", "#6b7280", "·"),
}


def level_word(level: int) -> str:
    return LEVELS.get(level, LEVELS[0])[0]


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, str]]  # (x, text) under the bars
    max_total: int
    legend: list[tuple[str, str, str]]  # (word, colour, icon)
    rows: list[dict]  # the table: day, counts per level (highest first), total
    levels: list[int]


def stacked_bars(per_day: list[dict], levels, *, width: int = 700, height: int = 220) -> Chart:
    """Changes per day, stacked by severity (highest on top)."""
    order = [0] + [s.level for s in levels]  # bottom to top: not rated, low .. revert role
    top = max([d["total"] for d in per_day] + [1])
    plot_h = height - 30
    slot = width / max(1, len(per_day))
    bars, labels = [], []
    for i, day in enumerate(per_day):
        x = i * slot + slot * 0.15
        y = plot_h
        for level in order:
            n = day["counts"].get(level, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            word, colour, _icon = LEVELS.get(level, LEVELS[0])
            bars.append(Bar(x, y, slot * 0.7, h, colour, f"{day['day']:%d %b}: {n} {word}"))
        labels.append((x + slot * 0.35, f"{day['day']:%d %b}"))
    shown = list(reversed(order))
    return Chart(
        width=width,
        height=height,
        bars=bars,
        labels=labels,
        max_total=top,
        legend=[LEVELS[lv] for lv in shown],
        rows=[
            {
                "day": d["day"],
                "counts": [d["counts"].get(lv, 0) for lv in shown],
                "total": d["total"],
            }
            for d in per_day
        ],
        levels=shown,
    )
