"""The figures of the annual overview, read from the published warehouse's marts.

Every number the report shows comes from one query here, so a test can compare the report
with the marts and a reader can find the table each figure came from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb

from pipelines.warehouse.publication import tables_in

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Provenance:
    warehouse: str
    version: str | None
    published_at: str | None
    run_id: str | None
    files_loaded: int
    generated_at: str


@dataclass(frozen=True)
class PlanFigures:
    """実行計画の進捗: the latest fiscal year whose action plans carry results (else the
    latest with plans at all)."""

    year: int | None
    by_goal: Rows  # marts.plan_progress: ratings, targets set and reached, per goal
    by_ward: Rows  # marts.plan_progress: ratings per ward (the chart)
    items: Rows  # marts.plan_items_citywide: each item across the city
    not_reported: Rows  # marts.submission_status: the year's results not come, later plans overdue


@dataclass(frozen=True)
class OverviewFigures:
    latest_year: int | None
    closed_years: list[int]  # fiscal years closed: their figures final (marts.dim_fiscal_year)
    places_by_year: Rows  # marts.place_counts
    places_by_ward: Rows  # marts.place_counts_by_ward, latest year
    activity_mix: Rows  # marts.place_counts by activity type, every year
    facilities_by_field: Rows  # marts.public_interest_facilities, latest year
    activities_by_field_category: Rows  # marts.public_interest_activities, latest year
    consultations_by_month_topic: Rows  # marts.consultation_volumes
    scorecard: Rows  # marts.plan_scorecard
    submission_gaps: Rows  # marts.submission_status, not received and due
    timeliness: Rows  # marts.submission_status: on time, late, overdue, not due by year
    rejected_files: Rows  # audit.submissions, rejected
    held_files: Rows  # audit.submissions, held (waiting for confirmation)
    check_warnings: Rows  # audit.dq_results: warnings on the files that count
    plan: PlanFigures  # the wards' action plans (marts.plan_*), the latest year with results
    provenance: Provenance


def _rows(connection: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> Rows:
    relation = connection.execute(sql, list(params))
    columns = [column[0] for column in relation.description]
    return [dict(zip(columns, values, strict=True)) for values in relation.fetchall()]


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


HEADLINE_QUERIES = {
    "places (居場所)": "select fiscal_year, sum(places) from marts.place_counts",
    "facilities with public-interest activities": "select fiscal_year, "
    "sum(facilities_with_initiatives) from marts.public_interest_facilities",
    "volunteer consultations": "select fiscal_year, sum(consultations) "
    "from marts.consultation_volumes",
}

OVERDUE_QUERY = (
    "select submitter_name, source, stage, fiscal_year, period_start, days_overdue "
    "from marts.submission_status where timeliness = 'overdue' "
    "order by days_overdue desc, source, submitter_code, period_start"
)
HEADLINE_TABLES = sorted(
    {table for sql in [*HEADLINE_QUERIES.values(), OVERDUE_QUERY] for table in tables_in(sql)}
)


def overdue(connection: duckdb.DuckDBPyConnection, shown: int = 5) -> str | None:
    """The expected submissions overdue today, the longest first (the run summary's line)."""
    try:
        rows = connection.execute(OVERDUE_QUERY).fetchall()
    except duckdb.Error:  # a warehouse from before the calendar
        return None
    if not rows:
        return "none"
    named = [
        f"{name} {source}{f' ({stage})' if stage else ''} "
        f"{f'{start:%Y-%m}' if source == 'consultations' else f'FY{year}'} ({days} days)"
        for name, source, stage, year, start, days in rows[:shown]
    ]
    more = f", … {len(rows) - shown} more" if len(rows) > shown else ""
    return f"{len(rows)} — " + ", ".join(named) + more


HELD_QUERY = (
    "select sha256, held_for_year, count(*) from audit.consultations_held "
    "group by sha256, held_for_year"
)
HELD_TABLES = tables_in(HELD_QUERY)


def held_consultations(
    connection: duckdb.DuckDBPyConnection,
) -> dict[str, tuple[int, list[int]]]:
    """The consultation exports closed years hold consultations of back: SHA-256 → (how many,
    the closed years, oldest first)."""
    try:
        rows = connection.execute(HELD_QUERY).fetchall()
    except duckdb.Error:  # a warehouse from before the table
        return {}
    held: dict[str, tuple[int, list[int]]] = {}
    for sha256, year, count in rows:
        total, years = held.get(sha256, (0, []))
        held[sha256] = (total + int(count), sorted([*years, int(year)]))
    return held


def headline_figures(connection: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[int, int]]]:
    """The council's headline figures by fiscal year (the run summary prints them)."""
    figures = {}
    for label, sql in HEADLINE_QUERIES.items():
        try:
            rows = connection.execute(f"{sql} group by fiscal_year order by 1").fetchall()
        except duckdb.Error:  # a warehouse from before that mart existed
            continue
        figures[label] = [(int(fy), int(n)) for fy, n in rows]
    return figures


def read_figures(connection: duckdb.DuckDBPyConnection, warehouse: str) -> OverviewFigures:
    latest = connection.execute("select max(fiscal_year) from marts.place_counts").fetchone()[0]
    closed = [
        year
        for (year,) in connection.execute(
            "select fiscal_year from marts.dim_fiscal_year where is_closed order by 1"
        ).fetchall()
    ]
    publish = _rows(
        connection,
        "select version, published_at, run_id from audit.publishes "
        "order by published_at desc limit 1",
    )
    files_loaded = connection.execute(
        "select count(*) from audit.submissions where status in ('loaded', 'superseded')"
    ).fetchone()[0]
    provenance = Provenance(
        warehouse=warehouse,
        version=publish[0]["version"] if publish else None,
        published_at=_iso(publish[0]["published_at"]) if publish else None,
        run_id=publish[0]["run_id"] if publish else None,
        files_loaded=int(files_loaded),
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    return OverviewFigures(
        latest_year=latest,
        closed_years=closed,
        places_by_year=_rows(
            connection,
            "select places.fiscal_year, cast(sum(places.places) as bigint) as places, "
            "cast(sum(places.participants) as bigint) as participants, "
            "cast(sum(places.places_without_participants) as bigint) as without_participants, "
            "case when bool_or(years.is_closed) then '確定済み' else '' end as closed "
            "from marts.place_counts as places left join marts.dim_fiscal_year as years "
            "on places.fiscal_year = years.fiscal_year "
            "group by places.fiscal_year order by places.fiscal_year",
        ),
        places_by_ward=_rows(
            connection,
            "select ward_code, ward_name, places, places_prev_year, change "
            "from marts.place_counts_by_ward where fiscal_year = ? order by ward_code",
            latest,
        ),
        activity_mix=_rows(
            connection,
            "select places.fiscal_year, places.activity_type, "
            "cast(sum(places.places) as bigint) as places "
            "from marts.place_counts as places "
            "left join marts.dim_code as codes "
            "on codes.list_name = 'activity_type' and codes.code = places.activity_type "
            "group by places.fiscal_year, places.activity_type "
            "order by places.fiscal_year, min(coalesce(codes.sort_order, 999)), "
            "places.activity_type",
        ),
        facilities_by_field=_rows(
            connection,
            "select facilities.field, facilities.member_facilities, "
            "facilities.facilities_with_initiatives, facilities.share "
            "from marts.public_interest_facilities as facilities "
            "left join marts.dim_code as codes "
            "on codes.list_name = 'facility_field' and codes.code = facilities.field "
            "where facilities.fiscal_year = ? "
            "order by coalesce(codes.sort_order, 999), facilities.field",
            latest,
        ),
        activities_by_field_category=_rows(
            connection,
            "select activities.field, activities.category, activities.facilities "
            "from marts.public_interest_activities as activities "
            "left join marts.dim_code as codes "
            "on codes.list_name = 'facility_field' and codes.code = activities.field "
            "left join marts.dim_initiative_category as categories "
            "on categories.label_ja = activities.category "
            "where activities.fiscal_year = ? "
            "order by coalesce(codes.sort_order, 999), activities.field, "
            "categories.sort_order",
            latest,
        ),
        consultations_by_month_topic=_rows(
            connection,
            "select volumes.month, volumes.topic, "
            "cast(sum(volumes.consultations) as bigint) as consultations "
            "from marts.consultation_volumes as volumes "
            "left join marts.dim_code as codes "
            "on codes.list_name = 'topic' and codes.code = volumes.topic "
            "group by volumes.month, volumes.topic "
            "order by volumes.month, min(coalesce(codes.sort_order, 999)), volumes.topic",
        ),
        scorecard=_rows(
            connection,
            "select fiscal_year, role, indicator_code, indicator_name, unit, reported_value, "
            "computed_value, status, plan_item, item_name from marts.plan_scorecard "
            "order by fiscal_year desc, role, indicator_code",
        ),
        submission_gaps=_rows(
            connection,
            "select fiscal_year, source, stage, submitter_code, submitter_name, period_start, "
            "due_on, "
            "status, timeliness, days_overdue, latest_file, reminders_sent "
            "from marts.submission_status where status <> 'received' "
            "and timeliness <> 'not_due' "
            "order by fiscal_year desc, source, submitter_code, period_start",
        ),
        timeliness=_rows(
            connection,
            "select fiscal_year, "
            "count(*) filter (where timeliness = 'on_time') as on_time, "
            "count(*) filter (where timeliness = 'late') as late, "
            "count(*) filter (where timeliness = 'overdue') as overdue, "
            "count(*) filter (where timeliness = 'not_due') as not_due "
            "from marts.submission_status group by fiscal_year order by fiscal_year desc",
        ),
        rejected_files=_rows(
            connection,
            "select source, file_name, submitter_name, fiscal_year, received_at, reason "
            "from audit.submissions where status = 'rejected' order by received_at desc",
        ),
        held_files=_rows(
            connection,
            "select source, file_name, submitter_name, fiscal_year, received_at, hold_reason "
            "from audit.submissions where status = 'held' order by received_at desc",
        ),
        check_warnings=_rows(
            connection,
            "select results.file_name, ledger.source, ledger.submitter_name, ledger.fiscal_year, "
            "results.description, results.column_name, results.examples, results.rows "
            "from audit.dq_results as results "
            "inner join audit.submissions as ledger on ledger.sha256 = results.sha256 "
            "where not results.success and results.severity = 'warning' and ledger.is_current "
            "order by ledger.source, results.file_name, results.column_name",
        ),
        plan=plan_figures(connection),
        provenance=provenance,
    )


RATINGS = ("rated_achieved", "rated_mostly", "rated_partly", "rated_not", "not_rated")
_RATING_SUMS = ", ".join(f"cast(sum({r}) as bigint) as {r}" for r in RATINGS)


def plan_figures(connection: duckdb.DuckDBPyConnection) -> PlanFigures:
    """The section 「実行計画の進捗」: the latest year with results (actions rated or measured),
    else the latest year with plans."""
    # The latest year whose results have come from a ward (a spring plan, even one with a
    # baseline figure in it, does not make its year the one to show), else the latest plan.
    with_results, latest = connection.execute(
        "select (select max(fiscal_year) from marts.submission_status "
        "where source = 'ward_action_plans' and stage = 'results' and status = 'received'), "
        "(select max(fiscal_year) from marts.plan_progress)"
    ).fetchall()[0]
    year = with_results if with_results is not None else latest
    if year is None:
        return PlanFigures(None, [], [], [], [])
    return PlanFigures(
        year=year,
        by_goal=_rows(
            connection,
            f"select goal, cast(sum(actions) as bigint) as actions, {_RATING_SUMS}, "
            "cast(sum(with_target) as bigint) as with_target, "
            "cast(sum(with_result) as bigint) as with_result, "
            "cast(sum(target_reached) as bigint) as target_reached, "
            "round(100.0 * sum(target_reached) / nullif(sum(with_result), 0), 1) "
            "as achievement_pct "
            "from marts.plan_progress where fiscal_year = ? group by goal "
            "order by min(plan_item)",
            year,
        ),
        by_ward=_rows(
            connection,
            f"select ward_code, ward_name, cast(sum(actions) as bigint) as actions, {_RATING_SUMS} "
            "from marts.plan_progress where fiscal_year = ? group by ward_code, ward_name "
            "order by ward_code",
            year,
        ),
        items=_rows(
            connection,
            "select plan_item, goal, item_name, wards_taking_up, actions, with_result, "
            "target_reached, achievement_rate, rated_achieved, rated_mostly, rated_partly, "
            "rated_not, not_rated, wards_partly_or_not from marts.plan_items_citywide "
            "where fiscal_year = ? order by sort_order",
            year,
        ),
        not_reported=_rows(
            connection,
            # the year's results not received, and every plan or results overdue since
            "select fiscal_year, submitter_name, stage, status, due_on, timeliness, "
            "days_overdue from marts.submission_status where source = 'ward_action_plans' "
            "and status <> 'received' and ((fiscal_year = ? and stage = 'results') "
            "or (fiscal_year > ? and timeliness = 'overdue')) "
            "order by fiscal_year, stage desc, submitter_code",
            year,
            year,
        ),
    )
