"""What was published for a submitter's earlier periods, for comparing a new file with its
own history (pipelines.quality.history): the figures of the file that counted for a fiscal
year, computed from its rows in the lake by the same measures as the new file's; and for
monthly sources, each published month's figure from the marts.

Read once per checker from the published warehouse; nothing published (a new home): no
history, no warnings.
"""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq

from pipelines.foundation.settings import Settings
from pipelines.ingest.contract import Contract
from pipelines.quality.history import figures
from pipelines.warehouse.engine import open_published
from pipelines.warehouse.publication import NotPublished

# The published monthly figure of a monthly source, by contract: the mart and its columns.
MONTHLY = {
    "consultations": (
        "select month, sum(consultations) from marts.consultation_volumes group by month"
    ),
}


class PublishedHistory:
    """:class:`pipelines.quality.history.PreviousFigures` over the published warehouse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._counted: dict[tuple[str, str, int], str] | None = None
        self._months: dict[str, dict[dt.date, float]] = {}

    def _files(self) -> dict[tuple[str, str, int], str]:
        if self._counted is None:
            try:
                with open_published(self.settings, ["audit.submissions"]) as connection:
                    rows = connection.execute(
                        "select source, submitter_code, fiscal_year, sha256 "
                        "from audit.submissions where status = 'loaded' "
                        "and fiscal_year is not null and submitter_code is not null"
                    ).fetchall()
            except NotPublished:
                rows = []
            self._counted = {(s, c, int(y)): sha for s, c, y, sha in rows}
        return self._counted

    def year(self, contract: Contract, submitter_code: str, fiscal_year: int) -> dict | None:
        sha256 = self._files().get((contract.key, submitter_code, fiscal_year))
        if sha256 is None:
            return None
        path = self.settings.lake / contract.key / f"{sha256}.parquet"
        try:
            rows = pq.read_table(path).to_pandas()
        except OSError:  # damaged: the next run's repair derives it again
            return None
        return figures(contract, rows)

    def months(self, contract: Contract, submitter_code: str) -> dict[dt.date, float]:
        sql = MONTHLY.get(contract.key)
        if sql is None:
            return {}
        if contract.key not in self._months:
            try:
                with open_published(self.settings, ["marts.consultation_volumes"]) as connection:
                    rows = connection.execute(sql).fetchall()
            except NotPublished:
                rows = []
            self._months[contract.key] = {
                (m.date() if isinstance(m, dt.datetime) else m): float(v) for m, v in rows
            }
        return self._months[contract.key]
