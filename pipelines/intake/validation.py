"""`welfare validate`: what the pipeline would do with a file, told to the person sending it.

Uses the same reader and the same checks as ingestion, and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipelines.ingest.cells import head_rows
from pipelines.ingest.contract import Contract, all_contracts, load_contract
from pipelines.ingest.reader import ReadResult, never_read_whole
from pipelines.intake.reading import ToRead, read_and_check
from pipelines.quality.history import PreviousFigures
from pipelines.quality.submission_checks import NOT_CHECKED, SubmissionCheck

GUESS_BYTES = 2**20  # a file's survey is guessed from its first lines


@dataclass
class Validation:
    path: Path
    contract: Contract
    result: ReadResult
    guessed: bool
    check: SubmissionCheck = field(default=NOT_CHECKED)


def guess_source(data: bytes, filename: str) -> Contract:
    """The source whose headers the file's first rows match best (ties: the order of
    docs/submissions.md)."""
    try:
        rows = head_rows(data, filename)
    except Exception:  # unreadable for every source alike: reading it will say why
        return all_contracts()[0]
    best, best_score = all_contracts()[0], -1
    for contract in all_contracts():
        found = max(
            (sum(1 for cell in row if contract.match_header(cell) is not None) for row in rows),
            default=0,
        )
        if found > best_score:
            best, best_score = contract, found
    return best


def validate_file(
    path: Path,
    source: str | None = None,
    file_name: str | None = None,
    previous: PreviousFigures | None = None,
) -> Validation:
    """What intake would make of the file at ``path``, named ``file_name`` by its sender (the
    reader takes the fiscal year and ward from the name; default: the path's own name), and
    with ``previous`` how it compares with what was published before. Writes nothing."""
    name = file_name or path.name
    from_disk = never_read_whole(path, name)
    if from_disk:
        with path.open("rb") as handle:
            head = handle.read(GUESS_BYTES)
    else:
        head = data = path.read_bytes()
    contract = load_contract(source) if source else guess_source(head, name)
    done = read_and_check(ToRead(path if from_disk else data, name), contract, "validate", previous)
    return Validation(path, contract, done.result, source is None, done.check)


def format_validation(report: Validation, limit: int = 50) -> str:
    result, contract = report.result, report.contract
    lines = [
        f"ファイル / File: {report.path.name}",
        f"調査 / Survey: {contract.label_ja} ({contract.key})"
        + ("  ※見出しから推定 / guessed from the headers" if report.guessed else ""),
    ]
    if result.fiscal_year:
        lines.append(f"年度 / Fiscal year: FY{result.fiscal_year}")
    if result.submitter_name:
        lines.append(f"提出者 / Submitter: {result.submitter_name}")
    if result.status == "rejected":
        lines += [
            "",
            "✗ このファイルは受け付けられません / This file would be REJECTED:",
            f"  {result.reason}",
        ]
    elif report.check.held:
        lines += [
            "",
            "△ 読み込めますが、確認待ちになります（集計には入りません） / This file would be HELD "
            "(read, but kept out of the marts until corrected or released):",
            *(f"  ✗ {error}" for error in report.check.errors),
        ]
    else:
        lines += ["", "✓ 取り込めます / This file would load."]
    lines.append(
        f"行数 / Rows: 読込 read {result.rows_read} = 取込 loaded {result.rows_loaded}"
        f" + 保留 quarantined {result.rows_quarantined} + 対象外 skipped {result.rows_skipped}"
        + (f" + 却下 rejected {result.rows_rejected}" if result.rows_rejected else "")
    )
    if result.personal_columns_dropped:
        lines.append(
            "個人情報の列は読み込みません / Personal-data columns not read: "
            + "、".join(result.personal_columns_dropped)
        )
    for warning in result.warnings:
        lines.append(f"注意 / Note: {warning}")
    for warning in report.check.shown_warnings:
        lines.append(f"確認してください / Please check: {warning}")
    if len(result.quarantine):
        lines += ["", "保留される行 / Rows that would be quarantined (row, column, value, rule):"]
        for issue in result.quarantine.head(limit).itertuples():
            lines.append(
                f"  {issue.row_number}行目 row {issue.row_number} | {issue.header} | "
                f"{issue.value if issue.value is not None else '(空欄 blank)'} | "
                f"{issue.rule}"
            )
            lines.append(f"      {issue.message}")
        if len(result.quarantine) > limit:
            lines.append(
                f"  … ほか {len(result.quarantine) - limit} 件 / and "
                f"{len(result.quarantine) - limit} more"
            )
    return "\n".join(lines)
