"""The annual overview (年次概要): one self-contained HTML page built from the published marts.

No script, stylesheet, font or image is fetched: charts are inline SVG with text as outlines,
the style sheet is inline, and the figures are also embedded as JSON for anyone who wants to
check them. The page says which published version it was built from.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipelines.foundation.atomic import write_text
from pipelines.foundation.settings import Settings
from pipelines.foundation.templating import render
from pipelines.ingest.contract import all_contracts
from pipelines.ingest.messages import SUBMISSION_STAGE, SUBMISSION_STATUS, SUBMISSION_TIMELINESS
from pipelines.reporting.charts import render_charts
from pipelines.reporting.figures import OverviewFigures, Rows, read_figures
from pipelines.warehouse.engine import open_published, published_location

REPORT_NAME = "overview.html"
VERSION_META = "welfare-warehouse-version"
JST = dt.timezone(dt.timedelta(hours=9), "JST")

SOURCE_LABELS = {contract.key: contract.short_label_ja for contract in all_contracts()}
STATUS_LABELS = {
    "match": "一致",
    "mismatch": "不一致",
    "not_computed": "—（計算対象外）",
    **{status: ja for status, (ja, _) in SUBMISSION_STATUS.items()},
}

STYLE = """
body { font-family: "Noto Sans CJK JP", "Hiragino Sans", "Yu Gothic", "Meiryo", sans-serif;
       margin: 0 auto; max-width: 1040px; padding: 1.5rem; color: #222; line-height: 1.6; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; border-left: 6px solid #2f6c9f; padding-left: 0.6rem; margin-top: 2.2rem; }
.lead { color: #555; }
.kpis { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1rem 0; }
.kpi { border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem 1rem; min-width: 12rem; }
.kpi b { display: block; font-size: 1.5rem; }
figure.chart { margin: 0.5rem 0; }
figure.chart svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; }
th { background: #f2f5f8; }
td:first-child { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.mismatch td { background: #fdecea; }
tr.mismatch td.status { color: #b00020; font-weight: bold; }
details { margin: 0.4rem 0; }
footer { margin-top: 3rem; font-size: 0.85rem; color: #555; border-top: 1px solid #ddd; }
"""


def _with_labels(rows: Rows) -> Rows:
    labelled = []
    for row in rows:
        row = dict(row)
        if "source" in row:
            row["source"] = SOURCE_LABELS.get(row["source"], row["source"])
        if "status" in row:
            row["status_label"] = STATUS_LABELS.get(row["status"], row["status"])
        if row.get("timeliness") in SUBMISSION_TIMELINESS:
            row["timeliness_label"] = SUBMISSION_TIMELINESS[row["timeliness"]][0]
        if row.get("stage"):
            row["stage_label"] = SUBMISSION_STAGE[row["stage"]][0]
            if "source" in row:
                row["source"] += f"（{row['stage_label']}）"
        labelled.append(row)
    return labelled


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _kpis(figures: OverviewFigures) -> dict[str, Any]:
    year = figures.latest_year
    totals = {row["fiscal_year"]: row["places"] for row in figures.places_by_year}
    return {
        "places": totals.get(year, 0),
        "trend": " → ".join(f"{totals[fy]:,}" for fy in sorted(totals)),
        "facilities": sum(r["facilities_with_initiatives"] for r in figures.facilities_by_field),
        "members": sum(r["member_facilities"] for r in figures.facilities_by_field),
        "consultations": sum(
            row["consultations"]
            for row in figures.consultations_by_month_topic
            if _fiscal_year(row["month"]) == year
        ),
        "mismatches": sum(row["status"] == "mismatch" for row in figures.scorecard),
    }


def render_html(figures: OverviewFigures, charts: dict[str, str]) -> str:
    """The whole page (templates/overview.html.j2): pure, given the figures and the charts."""
    data = json.dumps(asdict(figures), ensure_ascii=False, default=_jsonable)
    generated = dt.datetime.fromisoformat(figures.provenance.generated_at).astimezone(JST)
    return render(
        "overview.html.j2",
        year=figures.latest_year,
        year_closed=figures.latest_year in figures.closed_years,
        figures=figures,
        charts=charts,
        kpis=_kpis(figures),
        scorecard=_with_labels(figures.scorecard),
        plan=figures.plan,
        plan_not_reported=_with_labels(figures.plan.not_reported),
        gaps=_with_labels(figures.submission_gaps),
        timeliness=figures.timeliness,
        rejected=_with_labels(figures.rejected_files),
        held=_with_labels(figures.held_files),
        warned=_with_labels(figures.check_warnings),
        provenance=figures.provenance,
        generated=f"{generated:%Y-%m-%d %H:%M}",
        style=STYLE,
        version_meta=VERSION_META,
        figures_json=data.replace("<", "\\u003c"),  # no markup, never closes the script
    )


def _fiscal_year(month: dt.date) -> int:
    return month.year if month.month >= 4 else month.year - 1


def report_path(settings: Settings) -> Path:
    return settings.reports / REPORT_NAME


def report_version(path: Path) -> str | None:
    """The published version a report on disk was built from (None if there is none)."""
    if not path.exists():
        return None
    marker = f'<meta name="{VERSION_META}" content="'
    text = path.read_text(encoding="utf-8")
    start = text.find(marker)
    return text[start + len(marker) : text.find('"', start + len(marker))] if start >= 0 else None


def build_overview(settings: Settings, force: bool = False) -> tuple[Path, bool]:
    """(Re)build reports/overview.html from the published warehouse; (path, rebuilt)."""
    with open_published(settings) as connection:
        figures = read_figures(connection, published_location(settings))
    target = report_path(settings)
    if (
        not force
        and figures.provenance.version
        and report_version(target) == (figures.provenance.version)
    ):
        return target, False
    charts = render_charts(figures, cache_dir=settings.work_dir / "charts")
    write_text(target, render_html(figures, charts))  # never half a page
    return target, True
