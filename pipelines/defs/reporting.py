"""The annual overview report as an asset: rebuilt after each publish that changed the marts."""

import dagster as dg

from pipelines.defs.progress import say_to
from pipelines.defs.resources import WelfareSettings
from pipelines.defs.warehouse import PUBLISHED_KEY
from pipelines.reporting.overview import build_overview

OVERVIEW_KEY = dg.AssetKey(["reports", "overview"])


@dg.asset(
    key=OVERVIEW_KEY,
    deps=[PUBLISHED_KEY],
    group_name="reports",
    kinds={"html"},
    description="年次概要: $WELFARE_HOME/reports/overview.html, a self-contained page of charts "
    "and tables built from the published marts (places, wards, activity types, public-interest "
    "activities, consultations, the plan scorecard, submission status).",
)
def overview_report(
    context: dg.AssetExecutionContext, welfare: WelfareSettings
) -> dg.MaterializeResult:
    path, rebuilt = build_overview(welfare.get())
    message = f"report {'built' if rebuilt else 'unchanged (same published version)'}: {path}"
    say_to(context)(message)
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(path)), "rebuilt": rebuilt}
    )
