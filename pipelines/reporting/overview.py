"""The annual overview (年次概要): one self-contained HTML page built from the published marts.

No script, stylesheet, font or image is fetched: charts are inline SVG with text as outlines,
the style sheet is inline, and the figures are also embedded as JSON for anyone who wants to
check them. The page says which published version it was built from.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from html import escape
from pathlib import Path
from typing import Any

import duckdb

from pipelines.atomic import write_text
from pipelines.reporting.charts import render_charts
from pipelines.reporting.figures import OverviewFigures, Provenance, Rows, read_figures
from pipelines.settings import Settings

REPORT_NAME = "overview.html"
VERSION_META = "welfare-warehouse-version"
JST = dt.timezone(dt.timedelta(hours=9), "JST")

SOURCE_LABELS = {
    "ibasho_survey": "地域福祉活動状況調査（居場所）",
    "facility_initiatives": "公益的な取組み調査",
    "consultations": "ボランティア・市民活動相談記録",
    "plan_indicators": "推進計画 実績指標",
}
STATUS_LABELS = {
    "match": "一致",
    "mismatch": "不一致",
    "not_computed": "—（計算対象外）",
    "missing": "未提出",
    "rejected": "差し戻し",
    "held": "確認待ち",
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
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.mismatch td { background: #fdecea; }
tr.mismatch td.status { color: #b00020; font-weight: bold; }
details { margin: 0.4rem 0; }
footer { margin-top: 3rem; font-size: 0.85rem; color: #555; border-top: 1px solid #ddd; }
"""


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else escape(str(value))


def _table(rows: Rows, columns: dict[str, str], row_class: str | None = None) -> str:
    head = "".join(f"<th>{escape(label)}</th>" for label in columns.values())
    body = []
    for row in rows:
        cells = []
        for key in columns:
            value = row[key]
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if key == "fiscal_year" and value is not None:
                text = f"{value}年度"  # a year, not a quantity: no thousands separator
            elif numeric or value is None:
                text = _number(value)
            else:
                text = escape(str(value))
            css = "num" if numeric else ("status" if key == "status" else "")
            cells.append(f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>")
        css = f' class="{escape(str(row[row_class]))}"' if row_class else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _chart(charts: dict[str, str], name: str, caption: str) -> str:
    svg = charts.get(name)
    inner = svg if svg else "<p>データがありません。 No data.</p>"
    return (
        f'<figure class="chart" data-chart="{name}" role="img" aria-label="{escape(caption)}">'
        f"{inner}<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _with_labels(rows: Rows) -> Rows:
    labelled = []
    for row in rows:
        row = dict(row)
        if "source" in row:
            row["source"] = SOURCE_LABELS.get(row["source"], row["source"])
        if "status" in row:
            row["status_label"] = STATUS_LABELS.get(row["status"], row["status"])
        labelled.append(row)
    return labelled


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _kpi(label: str, name: str, value: str, note: str = "") -> str:
    return f'<div class="kpi">{label}<b data-figure="{name}">{value}</b>{note}</div>'


def _section(anchor: str, title_ja: str, title_en: str, *parts: str) -> str:
    title = f"<h2>{title_ja} <small>{title_en}</small></h2>"
    return f'<section id="{anchor}">{title}{"".join(parts)}</section>'


def _summary(figures: OverviewFigures) -> str:
    year = figures.latest_year
    totals = {row["fiscal_year"]: row["places"] for row in figures.places_by_year}
    trend = " → ".join(f"{totals[fy]:,}" for fy in sorted(totals))
    facilities = sum(row["facilities_with_initiatives"] for row in figures.facilities_by_field)
    members = sum(row["member_facilities"] for row in figures.facilities_by_field)
    consultations = sum(
        row["consultations"]
        for row in figures.consultations_by_month_topic
        if _fiscal_year(row["month"]) == year
    )
    mismatches = sum(row["status"] == "mismatch" for row in figures.scorecard)
    kpis = [
        _kpi(f"居場所（{year}年度）", "places_latest", f"{totals.get(year, 0):,} か所",
             f"年度推移 {escape(trend)}"),
        _kpi(f"公益的な取組みの実施施設（{year}年度）", "facilities_latest",
             f"{facilities:,} 施設", f"会員施設 {members:,} のうち"),
        _kpi(f"ボランティア・市民活動相談（{year}年度）", "consultations_latest",
             f"{consultations:,} 件"),
        _kpi("計画指標の不一致", "scorecard_mismatches", f"{mismatches} 件"),
    ]  # fmt: skip
    return f'<section id="summary"><div class="kpis">{"".join(kpis)}</div></section>'


def _submissions(figures: OverviewFigures) -> str:
    gaps = _with_labels(figures.submission_gaps)
    rejected = _with_labels(figures.rejected_files)
    gap_columns = {
        "fiscal_year": "年度",
        "source": "調査",
        "submitter_name": "提出元",
        "status_label": "状況",
        "latest_file": "最新ファイル",
    }
    rejected_columns = {
        "source": "調査",
        "file_name": "ファイル",
        "submitter_name": "提出元",
        "reason": "理由",
    }
    held = _with_labels(figures.held_files)
    held_columns = {
        "source": "調査",
        "file_name": "ファイル",
        "submitter_name": "提出元",
        "fiscal_year": "年度",
        "hold_reason": "理由（確認が必要な値）",
    }
    warned = _with_labels(figures.check_warnings)
    warned_columns = {
        "source": "調査",
        "file_name": "ファイル",
        "submitter_name": "提出元",
        "description": "確認事項",
        "examples": "値",
        "rows": "行",
    }
    return _section(
        "submissions",
        "提出状況",
        "Submission status",
        "<h3>未提出・差し戻し・確認待ち</h3>",
        _table(gaps, gap_columns) if gaps else "<p>すべての提出元から受け付けています。</p>",
        "<h3>受付できなかったファイルと理由</h3>",
        _table(rejected, rejected_columns) if rejected else "<p>ありません。</p>",
        "<h3>確認待ちのファイル（集計に入っていません）</h3>",
        _table(held, held_columns) if held else "<p>ありません。</p>",
        "<h3>集計に入っているファイルの確認事項</h3>",
        _table(warned, warned_columns) if warned else "<p>ありません。</p>",
    )


def _footer(provenance: Provenance) -> str:
    generated = dt.datetime.fromisoformat(provenance.generated_at).astimezone(JST)
    return (
        '<footer id="provenance"><p>'
        f"出典: welfare-warehouse 公開版 {escape(provenance.version or '—')}"
        f"（公開 {escape(provenance.published_at or '—')} UTC、"
        f"実行 {escape(provenance.run_id or '—')}、"
        f"取込みファイル {provenance.files_loaded:,} 件）。"
        f"作成 {generated:%Y-%m-%d %H:%M} JST。"
        f"数値はすべて {escape(provenance.warehouse)} の marts スキーマの表と同じです。"
        "</p></footer>"
    )


def render_html(figures: OverviewFigures, charts: dict[str, str]) -> str:
    """The whole page: pure, given the figures and the charts."""
    year = figures.latest_year
    data = json.dumps(asdict(figures), ensure_ascii=False, default=_jsonable)
    data = data.replace("</", "<\\/")  # never closes the script element
    ward_columns = {
        "ward_name": "区",
        "places": "居場所",
        "places_prev_year": "前年度",
        "change": "増減",
    }
    field_columns = {
        "field": "施設種別",
        "member_facilities": "会員施設",
        "facilities_with_initiatives": "取組み実施施設",
    }
    scorecard_columns = {
        "fiscal_year": "年度",
        "indicator_name": "指標",
        "unit": "単位",
        "reported_value": "報告値",
        "computed_value": "計算値",
        "status_label": "照合",
    }
    sections = [
        _summary(figures),
        _section(
            "places",
            "居場所の数の推移",
            "Places over fiscal years",
            _chart(charts, "places_by_year", "年度別の居場所の数（marts.place_counts）"),
            _table(figures.places_by_year, {"fiscal_year": "年度", "places": "居場所（か所）"}),
        ),
        _section(
            "wards",
            f"区別の居場所（{year}年度）",
            "Places by ward",
            _chart(charts, "places_by_ward", "区別の居場所の数（marts.place_counts_by_ward）"),
            "<details><summary>表で見る（前年度比）</summary>",
            _table(figures.places_by_ward, ward_columns),
            "</details>",
        ),
        _section(
            "activity-types",
            "活動種別の内訳",
            "Activity-type mix",
            _chart(charts, "activity_mix", "活動種別ごとの居場所の数（marts.place_counts）"),
        ),
        _section(
            "facilities",
            f"社会福祉施設の公益的な取組み（{year}年度）",
            "Public-interest activities by field and category",
            _chart(
                charts,
                "facilities_by_field_category",
                "施設種別・取組み分野ごとの施設数（marts.public_interest_activities）",
            ),
            _table(figures.facilities_by_field, field_columns),
        ),
        _section(
            "consultations",
            "ボランティア・市民活動相談",
            "Consultations by month and topic",
            _chart(
                charts,
                "consultations_by_month_topic",
                "月別・相談内容別の相談件数（marts.consultation_volumes）",
            ),
        ),
        _section(
            "scorecard",
            "推進計画の実績指標",
            "Plan scorecard",
            "<p>報告値と、倉庫が提出データから計算した値の比較。不一致は赤で示します。</p>",
            _table(_with_labels(figures.scorecard), scorecard_columns, row_class="status"),
        ),
        _submissions(figures),
    ]
    version = escape(figures.provenance.version or "")
    return f"""<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="{VERSION_META}" content="{version}">
<title>地域福祉活動 年次概要（{year}年度）</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>地域福祉活動 年次概要（{year}年度）</h1>
<p class="lead">大阪市社会福祉協議会 — 各区社協・施設連・ボランティアセンターの
提出データから自動作成。 Annual overview built from the published warehouse.</p></header>
{"".join(sections)}
{_footer(figures.provenance)}
<script type="application/json" id="overview-figures">{data}</script>
</body>
</html>
"""


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
    if not settings.warehouse.exists():
        raise FileNotFoundError(
            f"No published warehouse at {settings.warehouse}: run `welfare run` first."
        )
    with duckdb.connect(str(settings.warehouse), read_only=True) as connection:
        figures = read_figures(connection, str(settings.warehouse))
    target = report_path(settings)
    if (
        not force
        and figures.provenance.version
        and report_version(target) == (figures.provenance.version)
    ):
        return target, False
    write_text(target, render_html(figures, render_charts(figures)))  # never half a page
    return target, True
