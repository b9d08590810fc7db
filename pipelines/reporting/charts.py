"""Charts of the annual overview: matplotlib, rendered to inline SVG.

Text is drawn as outlines (``svg.fonttype = path``) with a Japanese font, so the report looks
the same on any machine, needs no font or network to view, and never shows tofu boxes. A
missing glyph is an error here, not a silent box in the report.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import io
import warnings
from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.foundation.atomic import write_text
from pipelines.reporting.figures import OverviewFigures, Rows

if TYPE_CHECKING:
    from matplotlib.figure import Figure

JAPANESE_FONT = "Noto Sans CJK JP"
FONT_PACKAGE = "fonts-noto-cjk"
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
PALETTE = [
    "#2f6c9f", "#e07b39", "#3f9a5a", "#c44e52", "#8172b2",
    "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd",
]  # fmt: skip


class JapaneseFontMissing(RuntimeError):
    pass


class MissingGlyph(RuntimeError):
    pass


@cache
def _matplotlib():
    """matplotlib, imported when a chart is drawn (a report whose charts are all in the cache
    does not pay for it), drawing to files only."""
    import matplotlib

    matplotlib.use("Agg")
    return matplotlib


def japanese_font() -> str:
    """The family to draw Japanese with (registered now if matplotlib's cache predates it)."""
    _matplotlib()
    from matplotlib import font_manager

    families = {font.name for font in font_manager.fontManager.ttflist}
    if JAPANESE_FONT not in families:
        for directory in FONT_DIRS:
            for path in sorted(directory.glob("**/NotoSansCJK*")):
                font_manager.fontManager.addfont(str(path))
        families = {font.name for font in font_manager.fontManager.ttflist}
    if JAPANESE_FONT not in families:
        raise JapaneseFontMissing(
            f"No Japanese font: the report's charts need '{JAPANESE_FONT}'. Install Debian's "
            f"{FONT_PACKAGE} (sudo apt-get install {FONT_PACKAGE}); `make setup` does it."
        )
    return JAPANESE_FONT


def _figure(width: float, height: float) -> Figure:
    _matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure


def _svg(figure: Figure, title: str) -> str:
    buffer = io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure.savefig(buffer, format="svg", metadata={"Title": title, "Date": None})
    missing = [str(w.message) for w in caught if "missing from" in str(w.message).lower()]
    if missing:
        raise MissingGlyph(f"chart '{title}': {missing[0]}")
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # drop the XML prolog and doctype: inlined in HTML


def _style(axes, font: str) -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    for label in (*axes.get_xticklabels(), *axes.get_yticklabels()):
        label.set_fontfamily(font)


def places_by_year(figures: OverviewFigures, font: str) -> str:
    figure = _figure(6.4, 3.4)
    axes = figure.add_subplot()
    years = [f"{row['fiscal_year']}年度" for row in figures.places_by_year]
    values = [row["places"] for row in figures.places_by_year]
    bars = axes.bar(years, values, color=PALETTE[0], width=0.55)
    axes.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontfamily=font)
    axes.set_ylabel("か所", fontfamily=font)
    axes.set_title("居場所の数（年度別）", fontfamily=font, loc="left")
    axes.margins(y=0.15)
    _style(axes, font)
    return _svg(figure, "居場所の数（年度別）")


def places_by_ward(figures: OverviewFigures, font: str) -> str:
    rows = figures.places_by_ward
    figure = _figure(6.4, 0.26 * max(len(rows), 1) + 1.0)
    axes = figure.add_subplot()
    names = [row["ward_name"] for row in rows][::-1]
    values = [row["places"] for row in rows][::-1]
    bars = axes.barh(names, values, color=PALETTE[0], height=0.65)
    axes.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2, fontsize=8)
    axes.set_title(f"区別の居場所の数（{figures.latest_year}年度）", fontfamily=font, loc="left")
    axes.margins(x=0.12)
    _style(axes, font)
    axes.grid(axis="y", visible=False)
    axes.grid(axis="x", color="#dddddd", linewidth=0.6)
    return _svg(figure, "区別の居場所の数")


def _stacked(
    axes,
    categories: list[str],
    series: OrderedDict[str, list[int]],
    font: str,
    horizontal: bool,
    labelled: list[int] | None = None,
) -> None:
    """Stacked bars: each series one collection of rectangles (a bar chart of 120 months by
    five topics is 600 artists drawn one by one otherwise, most of the chart's time).
    ``labelled``: the categories (positions) named on their axis; all by default."""
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    half = (0.65 if horizontal else 0.7) / 2
    base = [0] * len(categories)
    handles = []
    for index, (name, values) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        boxes = [
            _box(position, half, start, start + value, horizontal)
            for position, (start, value) in enumerate(zip(base, values, strict=True))
        ]
        axes.add_collection(PolyCollection(boxes, facecolors=color, edgecolors="none"))
        handles.append(Patch(facecolor=color, label=name))
        base = [b + v for b, v in zip(base, values, strict=True)]
    ticks = list(range(len(categories))) if labelled is None else labelled
    names = [categories[tick] for tick in ticks]
    extent = (-0.5, len(categories) - 0.5)
    top = max(base, default=0) or 1
    if horizontal:
        axes.set_yticks(ticks, names)
        axes.set_ylim(*extent)
        axes.set_xlim(0, top * 1.05)
    else:
        axes.set_xticks(ticks, names)
        axes.set_xlim(*extent)
        axes.set_ylim(0, top * 1.05)
    legend = axes.legend(
        handles=handles,
        prop={"family": font, "size": 8},
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1, 1),
    )
    legend.set_title(None)


def _box(
    position: int, half: float, start: float, end: float, horizontal: bool
) -> list[tuple[float, float]]:
    """One bar's rectangle: ``position`` on the category axis, ``start``–``end`` on the other."""
    low, high = position - half, position + half
    if horizontal:
        return [(start, low), (end, low), (end, high), (start, high)]
    return [(low, start), (high, start), (high, end), (low, end)]


def _pivot(rows: Rows, category: str, series: str, value: str) -> tuple[list, OrderedDict]:
    categories = list(OrderedDict.fromkeys(row[category] for row in rows))
    names = list(OrderedDict.fromkeys(row[series] for row in rows))
    table = {(row[category], row[series]): row[value] for row in rows}
    return categories, OrderedDict(
        (name, [table.get((c, name), 0) for c in categories]) for name in names
    )


def activity_mix(figures: OverviewFigures, font: str) -> str:
    years, series = _pivot(figures.activity_mix, "fiscal_year", "activity_type", "places")
    figure = _figure(7.2, 3.6)
    axes = figure.add_subplot()
    _stacked(axes, [f"{y}年度" for y in years], series, font, horizontal=False)
    axes.set_ylabel("か所", fontfamily=font)
    axes.set_title("活動種別の内訳（年度別）", fontfamily=font, loc="left")
    _style(axes, font)
    return _svg(figure, "活動種別の内訳")


def facilities_by_field_category(figures: OverviewFigures, font: str) -> str:
    fields, series = _pivot(figures.activities_by_field_category, "field", "category", "facilities")
    figure = _figure(7.2, 0.45 * max(len(fields), 1) + 1.4)
    axes = figure.add_subplot()
    _stacked(axes, fields[::-1], OrderedDict((k, v[::-1]) for k, v in series.items()), font, True)
    axes.set_xlabel("施設数（取組み分野ごとに数える）", fontfamily=font)
    axes.set_title(
        f"公益的な取組み：施設種別 × 取組み分野（{figures.latest_year}年度）",
        fontfamily=font,
        loc="left",
    )
    _style(axes, font)
    axes.grid(axis="y", visible=False)
    axes.grid(axis="x", color="#dddddd", linewidth=0.6)
    return _svg(figure, "公益的な取組み")


def consultations_by_month_topic(figures: OverviewFigures, font: str) -> str:
    months, series = _pivot(figures.consultations_by_month_topic, "month", "topic", "consultations")
    figure = _figure(8.0, 3.8)
    axes = figure.add_subplot()
    labels = [f"{m.year % 100:02d}/{m.month:02d}" for m in months]
    # Beyond three years a label a month is unreadable (and most of the drawing): the first
    # month of each quarter of the fiscal year (April, July, October, January) is named.
    labelled = [
        i for i, m in enumerate(months) if len(months) <= MONTHS_LABELLED or m.month % 3 == 1
    ]
    _stacked(axes, labels, series, font, horizontal=False, labelled=labelled)
    axes.set_ylabel("件", fontfamily=font)
    axes.set_title("相談件数（月別・相談内容別）", fontfamily=font, loc="left")
    axes.tick_params(axis="x", labelrotation=90, labelsize=7)
    _style(axes, font)
    return _svg(figure, "相談件数")


MONTHS_LABELLED = 36  # months the consultations chart names one by one; beyond, quarters

# The self-ratings in the order of the scale, with the colours of a traffic light.
RATING_SERIES = (
    ("rated_achieved", "◎ 達成", "#2f6c9f"),
    ("rated_mostly", "○ 概ね達成", "#64b5cd"),
    ("rated_partly", "△ 一部達成", "#ccb974"),
    ("rated_not", "× 未達成", "#c44e52"),
    ("not_rated", "− 未評価", "#c8c8c8"),
)


def plan_ratings_by_ward(figures: OverviewFigures, font: str) -> str:
    rows = figures.plan.by_ward
    figure = _figure(7.2, 0.26 * max(len(rows), 1) + 1.4)
    axes = figure.add_subplot()
    names = [row["ward_name"] for row in rows][::-1]
    base = [0] * len(rows)
    for column, label, color in RATING_SERIES:
        values = [row[column] for row in rows][::-1]
        axes.barh(names, values, left=base, label=label, color=color, height=0.65)
        base = [b + v for b, v in zip(base, values, strict=True)]
    axes.legend(
        prop={"family": font, "size": 8}, frameon=False, loc="upper left", bbox_to_anchor=(1, 1)
    )
    axes.set_xlabel("取組数（自己評価別）", fontfamily=font)
    axes.set_title(
        f"区別の実行計画の自己評価（{figures.plan.year}年度）", fontfamily=font, loc="left"
    )
    _style(axes, font)
    axes.grid(axis="y", visible=False)
    axes.grid(axis="x", color="#dddddd", linewidth=0.6)
    return _svg(figure, "区別の実行計画の自己評価")


CHARTS: dict[str, Callable[[OverviewFigures, str], str]] = {
    "places_by_year": places_by_year,
    "places_by_ward": places_by_ward,
    "activity_mix": activity_mix,
    "facilities_by_field_category": facilities_by_field_category,
    "consultations_by_month_topic": consultations_by_month_topic,
    "plan_ratings_by_ward": plan_ratings_by_ward,
}


def render_charts(figures: OverviewFigures, cache_dir: Path | None = None) -> dict[str, str]:
    """Every chart of the report as inline SVG, keyed by its name (the page's data-chart).

    With a ``cache_dir``, a chart whose rows, year, font and drawing code are those of one
    drawn before is that SVG (the same bytes: drawing is deterministic); a run that brings one
    more month of consultations draws one chart, not five (about 0.4 s each). Charts no longer
    in the report leave the cache (matplotlib is imported only to draw one)."""
    keys = {
        name: _chart_key(name, rows, figures.latest_year, JAPANESE_FONT)
        for name in CHARTS
        if (rows := _source(figures, name))
    }
    charts: dict[str, str] = {}
    for name, key in keys.items():
        cached = cache_dir / f"{key}.svg" if cache_dir is not None else None
        if cached is not None and cached.exists():
            charts[name] = cached.read_text(encoding="utf-8")
            continue
        charts[name] = CHARTS[name](figures, ready_to_draw())
        if cached is not None:
            write_text(cached, charts[name])
    if cache_dir is not None:
        for old in cache_dir.glob("*.svg"):
            if old.stem not in keys.values():
                old.unlink(missing_ok=True)
    return charts


def ready_to_draw() -> str:
    """matplotlib set up for the report's charts (what drawing one imports, imported); the
    Japanese font they are drawn with."""
    font = japanese_font()
    importlib.import_module("matplotlib.figure")
    importlib.import_module("matplotlib.backends.backend_svg")
    _matplotlib().rcParams.update(
        {"svg.fonttype": "path", "font.family": font, "svg.hashsalt": "welfare-warehouse"}
    )
    return font


def _source(figures: OverviewFigures, name: str) -> Rows:
    """The rows a chart is drawn from (with the latest year, all it reads)."""
    return {
        "places_by_year": figures.places_by_year,
        "places_by_ward": figures.places_by_ward,
        "activity_mix": figures.activity_mix,
        "facilities_by_field_category": figures.activities_by_field_category,
        "consultations_by_month_topic": figures.consultations_by_month_topic,
        # its year is in its title: a row of its own, so the cache key changes with it
        "plan_ratings_by_ward": [{"year": figures.plan.year}, *figures.plan.by_ward]
        if figures.plan.by_ward
        else [],
    }[name]


@cache
def _drawing_code() -> str:
    """What draws the charts: this module and matplotlib's version."""
    code = Path(__file__).read_bytes() + importlib.metadata.version("matplotlib").encode()
    return hashlib.sha256(code).hexdigest()


def _chart_key(name: str, rows: Rows, year: int | None, font: str) -> str:
    inputs = repr((name, rows, year, font, _drawing_code()))
    return hashlib.sha256(inputs.encode("utf-8")).hexdigest()[:32]
