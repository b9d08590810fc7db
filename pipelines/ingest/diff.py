"""What changed between two files of one submission (a correction and the file it replaces):
rows added, removed and changed, matched by each row's identity, and the change in the totals.

A row's identity is the first of its contract's ``unique_keys`` whose values are all filled:
活動ID, else ward + district + name by their normalized keys (places); 施設番号; 受付番号;
年度 + 指標コード. The rows compared are those the lake holds for each file (what was taken in:
quarantined cells are blank, personal data never there). Columns are named as the contract
heads them, values shown as the clerk wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyarrow.parquet as pq

from pipelines.foundation.settings import Settings
from pipelines.ingest.contract import Contract, load_contract
from pipelines.ingest.lake import Lake
from pipelines.ingest.lookup import NotFound, matching_entries, one_entry

TOTALLED_TYPES = ("count", "flag")  # summed in the totals (a flag: how many rows say yes)
TAKEN_IN = ("loaded", "held")


@dataclass(frozen=True)
class ChangedRow:
    identity: str
    changes: tuple[tuple[str, str, str], ...]  # (column header, old value, new value)


@dataclass(frozen=True)
class FileDiff:
    source: str
    old_file: str
    new_file: str
    old_sha256: str
    new_sha256: str
    # Said when the two files are not of one submission (another year or submitter).
    mismatch: str | None = None
    added: list[str] = field(default_factory=list)  # identities
    removed: list[str] = field(default_factory=list)
    changed: list[ChangedRow] = field(default_factory=list)
    unchanged: int = 0
    # (header, old, new); None where no row of that file fills the column in
    totals: list[tuple[str, float | None, float | None]] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _rows(lake: Lake, contract: Contract, sha256: str) -> pd.DataFrame:
    path = lake.table_dir(contract.key) / f"{sha256}.parquet"
    if not path.exists():
        raise NotFound(
            "このファイルの行はありません（受け付けられなかったファイルです）。 / This file's rows "
            "are not in the lake (it was not taken in)."
        )
    return pq.read_table(path).to_pandas().sort_values("source_row", kind="stable")


def _identity_column(contract: Contract) -> list[list[str]]:
    """Each unique key as the lake's columns (normalized keys where the contract has them)."""
    keys = []
    for key in contract.unique_keys:
        keys.append([contract.column(n).key_name if contract.column(n).key else n for n in key])
    return keys


def _identities(contract: Contract, rows: pd.DataFrame) -> pd.Series:
    keys = _identity_column(contract)
    labels = {c.key_name if c.key else c.name: c.header for c in contract.columns}

    def identity(row: pd.Series) -> str:
        for key in keys:
            values = [row.get(column) for column in key]
            if all(v is not None and not pd.isna(v) and str(v) != "" for v in values):
                return " / ".join(
                    f"{labels.get(c, c)}={_shown(v)}" for c, v in zip(key, values, strict=True)
                )
        return f"行 row {int(row['source_row'])}"

    return rows.apply(identity, axis=1) if not rows.empty else pd.Series(dtype=str)


def _shown(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "（空欄）"
    if isinstance(value, bool):
        return "○" if value else "×"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def compare(contract: Contract, old: pd.DataFrame, new: pd.DataFrame) -> dict:
    """Rows added, removed and changed between two files' rows of one contract."""
    old = old.assign(_identity=_identities(contract, old)).drop_duplicates("_identity")
    new = new.assign(_identity=_identities(contract, new)).drop_duplicates("_identity")
    before = old.set_index("_identity")
    after = new.set_index("_identity")
    shown = contract.columns
    changed, unchanged = [], 0
    for identity in after.index.intersection(before.index):
        differences = tuple(
            (
                column.header,
                _shown(before.at[identity, column.name]),
                _shown(after.at[identity, column.name]),
            )
            for column in shown
            if _shown(before.at[identity, column.name]) != _shown(after.at[identity, column.name])
        )
        if differences:
            changed.append(ChangedRow(identity, differences))
        else:
            unchanged += 1
    totals = [("行数 rows", float(len(old)), float(len(new)))]
    for column in contract.columns:
        if column.type in TOTALLED_TYPES:
            totals.append((column.header, _total(old[column.name]), _total(new[column.name])))
    return {
        "added": [i for i in after.index if i not in before.index],
        "removed": [i for i in before.index if i not in after.index],
        "changed": changed,
        "unchanged": unchanged,
        "totals": totals,
    }


def _total(values: pd.Series) -> float | None:
    """A column's sum; None when no row fills it in (blank is not zero)."""
    return None if values.isna().all() else float(values.sum())


def _entry(lake: Lake, ref: str) -> pd.Series:
    matches = matching_entries(lake.ledger(), ref)
    return one_entry(matches[matches["status"].isin(TAKEN_IN)], ref, "取込済みの提出", "submission")


def diff_files(settings: Settings, old_ref: str, new_ref: str) -> FileDiff:
    """``welfare diff OLD NEW``: two files of the same survey, named as release names them."""
    lake = Lake(settings.lake)
    old, new = _entry(lake, old_ref), _entry(lake, new_ref)
    if old["source"] != new["source"]:
        raise NotFound(
            "調査の違うファイルは比べられません。 / The two files are of different surveys "
            f"({old['source']}, {new['source']})."
        )
    return _diff(lake, old, new)


def _diff(lake: Lake, old: pd.Series, new: pd.Series) -> FileDiff:
    contract = load_contract(old["source"])
    found = compare(
        contract, _rows(lake, contract, old["sha256"]), _rows(lake, contract, new["sha256"])
    )
    return FileDiff(
        contract.key, old["file_name"], new["file_name"], old["sha256"], new["sha256"],
        mismatch=_mismatch(old, new), **found,
    )  # fmt: skip


def _mismatch(old: pd.Series, new: pd.Series) -> str | None:
    """Whether the two files are of one submission: the same fiscal year and submitter."""
    differ = []
    for column, ja in (("fiscal_year", "年度"), ("submitter_name", "提出者")):
        a, b = old[column], new[column]
        if not (pd.isna(a) and pd.isna(b)) and a != b:
            differ.append(f"{ja} {column}: {_shown(a)} / {_shown(b)}")
    if not differ:
        return None
    return (
        "注意: 同じ提出の版どうしではありません（" + "、".join(differ) + "）。 / Note: the two "
        "files are not versions of one submission."
    )


def replaced_by(lake: Lake, sha256: str) -> pd.Series | None:
    """The file that ``sha256`` replaces: the newest earlier file of the same survey, fiscal
    year and submitter that was taken in (by the files' own modification time, then receipt,
    as which file is current is decided). None for a first file or a consultation export."""
    ledger = lake.ledger()
    ledger = ledger[ledger["status"].isin(TAKEN_IN)].drop_duplicates("sha256")
    mine = ledger[ledger["sha256"] == sha256]
    if mine.empty or mine.iloc[0]["source"] == "consultations":
        return None
    entry = mine.iloc[0]
    same = ledger[
        (ledger["source"] == entry["source"])
        & (ledger["submitter_code"] == entry["submitter_code"])
        & (ledger["fiscal_year"] == entry["fiscal_year"])
        & (ledger["sha256"] != sha256)
    ]
    order = ["file_modified_at", "received_at", "file_name"]
    earlier = same[same[order].apply(tuple, axis=1) < tuple(entry[c] for c in order)].sort_values(
        order
    )
    return None if earlier.empty else earlier.iloc[-1]


def diff_with_replaced(settings: Settings, sha256: str) -> FileDiff | None:
    """What a file changes against the one it replaces, if it replaces one."""
    lake = Lake(settings.lake)
    earlier = replaced_by(lake, sha256)
    if earlier is None:
        return None
    ledger = lake.ledger()
    new = ledger[ledger["sha256"] == sha256].iloc[-1]
    return _diff(lake, earlier, new)


def format_diff(diff: FileDiff, limit: int = 50) -> str:
    """The diff for a terminal: what a clerk and the council read."""
    lines = [
        f"{diff.old_file} ({diff.old_sha256[:12]}) → {diff.new_file} ({diff.new_sha256[:12]})",
        *([diff.mismatch] if diff.mismatch else []),
        f"追加 added {len(diff.added)}, 削除 removed {len(diff.removed)}, "
        f"変更 changed {len(diff.changed)}, 同じ unchanged {diff.unchanged}",
    ]
    for identity in diff.added[:limit]:
        lines.append(f"  + {identity}")
    for identity in diff.removed[:limit]:
        lines.append(f"  - {identity}")
    for row in diff.changed[:limit]:
        lines.append(f"  ~ {row.identity}")
        for header, old, new in row.changes:
            lines.append(f"      {header}: {old} → {new}")
    hidden = max(0, len(diff.added) - limit) + max(0, len(diff.removed) - limit)
    hidden += max(0, len(diff.changed) - limit)
    if hidden:
        lines.append(f"  … ほか {hidden} 件 / {hidden} more")
    lines.append("合計 totals:")
    for header, old, new in diff.totals:
        change = "" if old is None or new is None else f" ({_signed(new - old)})"
        lines.append(f"  {header}: {_number(old)} → {_number(new)}{change}")
    return "\n".join(lines)


def _number(value: float | None) -> str:
    if value is None:
        return "（未記入 not filled in）"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + _number(value)
