"""Finding received files in the ledger by what a person types: a file name, a landing path
or the start of a SHA-256 (8 characters or more). Release, review and diff all name files so."""

from __future__ import annotations

import pandas as pd


class NotFound(ValueError):
    """No submission, or more than one, answers to what was typed (the message says which)."""


def matching_entries(ledger: pd.DataFrame, ref: str) -> pd.DataFrame:
    """The ledger entries ``ref`` names, one per file (SHA-256)."""
    ref = ref.strip()
    if not ref:
        raise NotFound(
            "ファイル名かSHA-256を指定してください。 / Name a received file or its SHA-256."
        )
    by_hash = ledger["sha256"].str.startswith(ref.lower()) if len(ref) >= 8 else False
    found = ledger[(ledger["file_name"] == ref) | (ledger["landing_path"] == ref) | by_hash]
    # The same bytes received twice: the entry that took the file in speaks for it.
    taken_in = found["status"].isin(["loaded", "held"])
    return (
        found.assign(_taken=taken_in)
        .sort_values("_taken", kind="stable")
        .drop_duplicates("sha256", keep="last")
        .drop(columns="_taken")
    )


def one_entry(matches: pd.DataFrame, ref: str, what_ja: str, what_en: str) -> pd.Series:
    """The single entry of ``matches``, or an error saying there is none or several."""
    if matches.empty:
        raise NotFound(
            f"「{ref}」に当たる{what_ja}はありません。 / No {what_en} named '{ref}' (check the "
            "file name or SHA-256 in audit.submissions)."
        )
    if len(matches) > 1:
        raise NotFound(
            f"「{ref}」に当たる{what_ja}が{len(matches)}件あります。SHA-256で指定してください。"
            f" / '{ref}' names {len(matches)} {what_en}s: give the SHA-256 instead ("
            + ", ".join(matches["sha256"].str[:12])
            + ")."
        )
    return matches.iloc[0]
