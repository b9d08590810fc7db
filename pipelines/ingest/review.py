"""The council's review of a received file (docs/submissions.md, "Council review of a
submission"): approve it (承認) or return it to its sender with a comment (差し戻し).

A review is a record (``archive/records/reviews/``, copied to the lake), so it survives
``welfare rebuild-lake``; a file's latest review decides. A returned file stops counting from
the next run (its earlier version counts again, as for a held file) until the council approves
it after all; a corrected file from the same sender replaces it as any newer file does, which
ends the return. dbt reads the records (int_submissions_current, audit.reviews).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from pipelines.foundation.clock import utc_now
from pipelines.foundation.settings import Settings
from pipelines.ingest.archive import keep_record
from pipelines.ingest.closing import (
    closed_years,
    decision_lock,
    frozen_files,
    years_of,
    years_reached,
)
from pipelines.ingest.lake import Lake, read_records
from pipelines.ingest.lake_tables import RELEASES, REVIEW_SCHEMA, REVIEWS
from pipelines.ingest.lookup import matching_entries, one_entry

APPROVED, RETURNED = "approved", "returned"
DECISIONS: dict[str, tuple[str, str]] = {
    APPROVED: ("承認", "approved"),
    RETURNED: ("差し戻し", "returned"),
}
COMMENT_LIMIT = 2000  # characters: a paragraph or two, shown to the sender as written
REVIEWABLE = ("loaded", "held")  # files whose rows are in the lake


class ReviewError(ValueError):
    """The review cannot be recorded (the message says why and what to do instead)."""


@dataclass(frozen=True)
class Review:
    review_id: str
    sha256: str
    source: str
    file_name: str
    submitter_code: str | None
    fiscal_year: int | None
    decision: str
    reviewed_at: dt.datetime
    reviewed_by: str
    comment: str | None


def reviews(lake: Lake) -> pd.DataFrame:
    """Every review recorded, oldest first."""
    frame = read_records(lake, REVIEWS)
    return frame.sort_values(["reviewed_at", "review_id"], kind="stable")


def latest_review(lake: Lake, sha256: str) -> dict | None:
    """The review that decides a file's state now, if any."""
    mine = reviews(lake)
    mine = mine[mine["sha256"] == sha256]
    if mine.empty:
        return None
    return {k: (None if not isinstance(v, str) and pd.isna(v) else v)
            for k, v in mine.iloc[-1].to_dict().items()}  # fmt: skip


def review_submission(
    settings: Settings, ref: str, decision: str, by: str, comment: str = ""
) -> Review:
    """Record the council's decision on a received file; the next run applies it."""
    with decision_lock(settings):
        return _review(settings, ref, decision, by, comment)


def _review(settings: Settings, ref: str, decision: str, by: str, comment: str) -> Review:
    if decision not in DECISIONS:
        raise ReviewError(
            f"承認か差し戻しを選んでください。 / Choose approve or return ({', '.join(DECISIONS)})."
        )
    by, comment = by.strip(), comment.strip()
    if not by:
        raise ReviewError("確認した人の名前を書いてください。 / Say who reviews (your name).")
    if decision == RETURNED and not comment:
        raise ReviewError(
            "差し戻しには、送った人が直せるようにコメントを書いてください。 / A return needs a "
            "comment that tells the sender what to correct."
        )
    if len(comment) > COMMENT_LIMIT:
        raise ReviewError(
            f"コメントは{COMMENT_LIMIT}文字までです。 / Comments are at most {COMMENT_LIMIT} "
            "characters."
        )
    lake = Lake(settings.lake)
    matches = matching_entries(lake.ledger(), ref)
    reviewable = matches[matches["status"].isin(REVIEWABLE)]
    if reviewable.empty and not matches.empty:
        status = matches["status"].iloc[-1]
        raise ReviewError(
            f"「{ref}」は確認できません（状態: {status}）。取り込まれたファイルだけを承認・差し戻し"
            f"できます。 / '{ref}' is {status}: only files taken in can be approved or returned."
        )
    entry = one_entry(reviewable, ref, "提出", "submission")
    last = latest_review(lake, entry["sha256"])
    if decision == RETURNED:
        _refuse_return_in_closed_year(lake, entry)
    elif last and last["decision"] == RETURNED:
        _refuse_approval_in_closed_year(lake, entry)
    same = (decision, by, comment or None)
    if last and (last["decision"], last["reviewed_by"], last["comment"] or None) == same:
        return Review(**last)  # the same decision sent twice (a double click): recorded once
    at = utc_now()
    review = Review(
        review_id=f"{entry['sha256'][:16]}-{at:%Y%m%dT%H%M%S%fZ}",
        sha256=entry["sha256"],
        source=entry["source"],
        file_name=entry["file_name"],
        submitter_code=entry["submitter_code"],
        fiscal_year=None if pd.isna(entry["fiscal_year"]) else int(entry["fiscal_year"]),
        decision=decision,
        reviewed_at=at,
        reviewed_by=by,
        comment=comment or None,
    )
    row = {name: [getattr(review, name)] for name in REVIEW_SCHEMA.names}
    keep_record(
        settings.archive, settings.lake, REVIEWS, review.review_id, pa.table(row, REVIEW_SCHEMA)
    )
    return review


def _counting_files(lake: Lake) -> set[str]:
    """The files that count now: loaded (or held, then released), not returned."""
    ledger = lake.ledger()
    released = set(read_records(lake, RELEASES)["sha256"])
    taken_in = ledger[
        (ledger["status"] == "loaded")
        | ((ledger["status"] == "held") & ledger["sha256"].isin(released))
    ]
    latest = reviews(lake).drop_duplicates("sha256", keep="last")
    returned = set(latest.loc[latest["decision"] == RETURNED, "sha256"])
    return set(taken_in["sha256"]) - returned


def _refuse_approval_in_closed_year(lake: Lake, entry: pd.Series) -> None:
    """A returned file that is not among a closed year's files would bring its rows back into
    the figures: one received before the closing, or one received after it and released —
    or, for a consultation export, take one of the year's consultations out of it (a newer
    version). (A file that came after the closing and was not released is held back by the
    closing itself: approving it moves nothing.)"""
    closed = closed_years(lake)
    if not closed:
        return
    received = pd.Timestamp(entry["received_at"])
    released = entry["sha256"] in set(read_records(lake, RELEASES)["sha256"])
    own_years = set(years_of(entry))
    for year in years_reached(lake, entry, _counting_files(lake) | {entry["sha256"]}):
        closing = closed.get(year)
        if (
            closing is not None
            and (received <= pd.Timestamp(closing.late_after) or (released and year in own_years))
            and entry["sha256"] not in frozen_files(lake, closing.closing_id)
        ):
            raise ReviewError(
                f"{year}年度は確定済みです。差し戻したこのファイルは確定した数値に入っていないため、"
                f"承認すると数値が変わります。承認するには先に年度を再開してください（全体の状況"
                f"ページの「年度を再開」、または welfare reopen-year {year}）。 / FY{year} is "
                f"closed and this returned file is not in its figures: approving it would change "
                f"them. "
                f"Reopen the year first (on the council's page, or welfare reopen-year {year})."
            )


def _refuse_return_in_closed_year(lake: Lake, entry: pd.Series) -> None:
    """A file behind a closed year's figures cannot stop counting: that would move them. Nor
    can a consultation export received before the closing whose consultations have versions
    in the closed year in files that count (an older version would count again, in or out of
    the year)."""
    closed = closed_years(lake)
    if not closed:
        return
    received = pd.Timestamp(entry["received_at"])
    own_years = set(years_of(entry))
    for year in years_reached(lake, entry, _counting_files(lake)):
        closing = closed.get(year)
        if closing is None:
            continue
        frozen = entry["sha256"] in frozen_files(lake, closing.closing_id)
        if (year in own_years and frozen) or (
            year not in own_years and received <= pd.Timestamp(closing.late_after)
        ):
            raise ReviewError(
                f"{year}年度は確定済みで、このファイルはその数値にかかわります。差し戻すには先に年度を"
                f"再開してください（全体の状況ページの「年度を再開」、または welfare reopen-year "
                f"{year}）。 / FY{year} is closed and this file bears on its figures: reopen the "
                f"year first (on the council's page, or welfare reopen-year {year})."
            )
