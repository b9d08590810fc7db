"""Messages for the people who send the files: what is wrong and what to do, in Japanese and
English. Every rule of docs/submissions.md has exactly one entry here."""

from __future__ import annotations

from typing import Any


class UnreadableFile(Exception):
    """The file cannot be read at all (corrupt, wrong format, unknown encoding, past the
    limits that protect the pipeline); the message is for its sender."""


class NoHeaderOnSheet(Exception):
    """A workbook of several sheets whose sheet read (データ, else the first) has no header
    row: its sender is told which sheet was read and where the data belongs."""

    def __init__(self, sheet: str, others: list[str]) -> None:
        super().__init__(sheet)
        self.sheet, self.others = sheet, others


# What became of a file (audit.submissions.status, marts.submission_status.status) →
# (日本語, English): the one wording of every page and report that shows it.
SUBMISSION_STATUS: dict[str, tuple[str, str]] = {
    "loaded": ("取込済", "loaded"),
    "superseded": ("差し替え済", "superseded"),
    "held": ("確認待ち", "held"),
    "rejected": ("受付不可", "rejected"),
    "returned": ("差し戻し", "returned"),
    "after_closing": ("締切後（年度確定済み）", "after closing (year closed)"),
    "duplicate": ("重複（同一内容）", "duplicate"),
    "received": ("受付済", "received"),
    "missing": ("未提出", "missing"),
}

# An expected submission against its due date (marts.submission_status.timeliness).
SUBMISSION_TIMELINESS: dict[str, tuple[str, str]] = {
    "on_time": ("期限内", "on time"),
    "late": ("遅れて提出", "late"),
    "overdue": ("期限切れ", "overdue"),
    "not_due": ("期限前", "not yet due"),
}

# The stage of a submission expected twice a period (marts.submission_status.stage).
SUBMISSION_STAGE: dict[str, tuple[str, str]] = {
    "plan": ("計画", "plan"),
    "results": ("実績", "results"),
}

# rule → (日本語, English); {column} is the column's header, {value} the cell as written.
RULES: dict[str, tuple[str, str]] = {
    "required_missing": (
        "「{column}」は必須です。値を入力してください。",
        "{column} is required: fill it in.",
    ),
    "not_in_code_list": (
        "「{column}」の値「{value}」は選択肢にありません（{codes}）。",
        "{column}: '{value}' is not one of the allowed values ({codes}).",
    ),
    "unknown_ward": (
        "「{column}」の「{value}」は大阪市の区として認識できません。",
        "{column}: '{value}' is not one of Osaka City's 24 wards.",
    ),
    "not_a_number": (
        "「{column}」の「{value}」は数値として読めません。",
        "{column}: '{value}' is not a number.",
    ),
    "not_an_integer": (
        "「{column}」の「{value}」は整数ではありません。",
        "{column}: '{value}' is not a whole number.",
    ),
    "negative_count": (
        "「{column}」の「{value}」は負の数です。0以上で入力してください。",
        "{column}: '{value}' is negative; counts are 0 or more.",
    ),
    "extra_cells": (
        "この行はセルが見出しより多く、値が列からずれています（セル内のカンマ？）。"
        '値を「"」で囲むか、カンマを除いてください。',
        "This row has more cells than the header, so its values are not under their "
        "headings (a comma inside a cell?): quote that cell or remove the comma.",
    ),
    "out_of_range": (
        "「{column}」の「{value}」は範囲外です（{range}）。",
        "{column}: '{value}' is out of range ({range}).",
    ),
    "invalid_date": (
        "「{column}」の「{value}」は日付として読めません（例: 2024/4/3、令和6年4月3日）。",
        "{column}: '{value}' is not a date (e.g. 2024/4/3, R6.4.3).",
    ),
    "invalid_fiscal_year": (
        "「{column}」の「{value}」は年度として読めません（例: 令和6年度、2024）。",
        "{column}: '{value}' is not a fiscal year (e.g. 令和6年度, 2024).",
    ),
    "invalid_year": (
        "「{column}」の「{value}」は年として読めません（例: 2021、令和3年、H30）。",
        "{column}: '{value}' is not a year (e.g. 2021, R3, H30).",
    ),
    "invalid_flag": (
        "「{column}」の「{value}」は有無として読めません（○ または 空欄）。",
        "{column}: '{value}' is not yes/no (use ○ or leave blank).",
    ),
    "fiscal_year_mismatch": (
        "「{column}」の「{value}」は提出ファイルの年度と異なります。",
        "{column}: '{value}' differs from the submission's fiscal year.",
    ),
    "date_outside_fiscal_year": (
        "「{column}」の「{value}」は提出ファイルの年度外の日付です。",
        "{column}: '{value}' falls outside the submission's fiscal year.",
    ),
    "ward_mismatch": (
        "「{column}」の「{value}」は提出した区と異なります。",
        "{column}: '{value}' is not the ward this file was submitted for.",
    ),
    "not_in_force": (
        "「{column}」の「{value}」は、このファイルの年度に実施中の計画の項目ではありません。",
        "{column}: '{value}' is not an item of the plan in force in the fiscal year of this file.",
    ),
    "disagrees_with_reference": (
        "「{column}」の「{value}」は、同じ行で選んだ項目に定められた{column}と一致しません。",
        "{column}: '{value}' is not the {column} of the item this row names.",
    ),
    "duplicate_key": (
        "「{column}」の「{value}」が重複しています（2件目以降を保留）。",
        "{column}: '{value}' repeats an earlier row (later copies held back).",
    ),
}

FILES: dict[str, tuple[str, str]] = {
    "unreadable": (
        "ファイルを読み込めません（{detail}）。Excelで開けるか確認し、保存し直してください。",
        "The file cannot be read ({detail}): check it opens in Excel and save it again.",
    ),
    "unclosed_quote": (
        '{line}行目で「"」が開いたまま閉じられていません。そこから後ろの行がすべて1つのセルに'
        'なってしまうため、読み込みませんでした。「"」を閉じるか取り除いてください。',
        'A quote (") opened on line {line} is never closed: every line after it would become '
        "one cell, so the file was not read. Close or remove that quote.",
    ),
    "unclosed_quote_somewhere": (
        '「"」が開いたまま閉じられていない箇所があり、その後ろの行が1つのセルになってしまうため、'
        '読み込みませんでした。「"」を閉じるか取り除いてください。',
        'A quote (") is opened and never closed: the lines after it would become one cell, so '
        "the file was not read. Close or remove that quote.",
    ),
    "no_header_on_sheet": (
        "シート「{sheet}」に見出し行が見つかりません（ほかのシート: {others}）。"
        "データは最初のシートか「データ」という名前のシートに、{source}の様式の見出しで置いてください。",
        "No header row on sheet '{sheet}' (the others: {others}): only the first sheet, or a "
        "sheet named データ, is read; put the {source} data there under its template's headings.",
    ),
    "no_header": (
        "見出し行が見つかりません。{source}の様式の見出し（例: 区名、活動名称）を使ってください。",
        "No header row found: use the column headings of the {source} template.",
    ),
    "missing_columns": (
        "必須の列がありません: {columns}。様式の見出しを確認してください。",
        "Required column(s) missing: {columns}. Check the template's headings.",
    ),
    "empty": ("データ行がありません。", "The file has no data rows."),
    "empty_file": (
        "ファイルが空です（0バイト）。保存し直して、もう一度送ってください。",
        "The file is empty (0 bytes): save it again and send it once more.",
    ),
    "sheet_too_large": (
        "シート「{sheet}」が大きすぎます（展開すると{size}MB、上限{limit}MB）。"
        "提出様式のデータだけを送ってください。",
        "Sheet '{sheet}' is too large ({size} MB unpacked; the limit is {limit} MB): send "
        "only the template's data.",
    ),
    "workbook_part_too_large": (
        "ファイル内の「{part}」が大きすぎます（展開すると{size}MB、上限{limit}MB）。"
        "Excelで開いて、名前を付けて保存し直してください。",
        "The part '{part}' of the workbook is too large ({size} MB unpacked; the limit is "
        "{limit} MB): open the file in Excel and save it again.",
    ),
    "workbook_too_large": (
        "ファイル全体を展開すると大きすぎます（{size}MB、上限{limit}MB）。"
        "提出様式のデータだけを送ってください。",
        "The workbook unpacks to too much ({size} MB; the limit is {limit} MB): send only the "
        "template's data.",
    ),
    "workbook_packed_too_tightly": (
        "ファイル内の「{part}」が異常に圧縮されています（{ratio:,}倍、上限{limit}倍）。"
        "Excelで作ったファイルではないようです。",
        "The part '{part}' of the workbook is packed {ratio:,} times tighter than its size (the "
        "limit is {limit}): this does not look like a file saved by Excel.",
    ),
    "workbook_too_complex": (
        "ファイル内の「{part}」の構造が複雑すぎます（要素が多すぎます）。Excelで開いて、"
        "名前を付けて保存し直してください。",
        "The part '{part}' of the workbook has too many elements to read: open the file in "
        "Excel and save it again.",
    ),
    "workbook_too_many_parts": (
        "ファイルの構成要素が多すぎます（{limit:,}個まで）。Excelで作ったファイルではないようです。",
        "The workbook has too many parts (more than {limit:,}): this does not look like a file "
        "saved by Excel.",
    ),
    "file_too_large": (
        "ファイルが大きすぎます（{size:,}MB、上限{limit:,}MB）。月ごとなどに分けて送ってください。",
        "The file is too large ({size:,} MB; the limit is {limit:,} MB): send it in parts, "
        "e.g. one file a month.",
    ),
    "too_many_rows": (
        "行数が多すぎます（{limit:,}行まで。Excelの上限です）。",
        "Too many rows (more than {limit:,}, Excel's own limit).",
    ),
    "too_many_cells": (
        "Excelファイルのセルが多すぎます（{limit:,}セルまで）。CSV形式で保存して送ってください"
        "（CSVはどれほど大きくても分けて読みます）。",
        "The workbook has too many cells (more than {limit:,}): save it as CSV and send that "
        "(a CSV of any size is read in slices).",
    ),
    "too_many_columns": (
        "列が多すぎます（{count:,}列、上限{limit:,}列）。提出様式の列だけを送ってください。",
        "Too many columns ({count:,}; the limit is {limit:,}): send only the template's columns.",
    ),
    "line_too_long": (
        "{limit:,}文字を超える行があります。CSVとして正しく保存されているか確認してください。",
        "A line is longer than {limit:,} characters: is this really a CSV saved from Excel?",
    ),
    "fiscal_year_conflict": (
        "ファイル名の年度（{named}年度）と内容の年度（{content}年度）が一致しません。",
        "The file name says FY{named} but its rows say FY{content}.",
    ),
    "fiscal_year_unknown": (
        "年度がわかりません。「年度」列を入れるか、ファイル名に年度（例: R6）を入れてください。",
        "Fiscal year unknown: add a 年度 column or put it in the file name (R6).",
    ),
    "ward_conflict": (
        "ファイル名の区（{named}）と内容の区（{content}）が一致しません。",
        "The file name says {named} but its rows say {content}.",
    ),
    "ward_unknown": (
        "どの区の提出かわかりません。「区名」列かファイル名に区名を入れてください。",
        "Which ward sent this is unknown: fill in 区名 or name the ward in the file name.",
    ),
    "mostly_wrong": (
        "データ行の半数を超える{bad}行（全{total}行）に誤りがあります。様式が正しいか確認してください。",
        "{bad} of {total} data rows are wrong (more than half): is this the right template?",
    ),
    "too_many_wrong": (
        "誤りのあるセルが多すぎます（{limit:,}個を超えました）。出力の設定や様式を確認して、"
        "直したファイルを送ってください。",
        "Too many wrong cells (more than {limit:,}): check the export's settings or the "
        "template, and send a corrected file.",
    ),
    "duplicate_header": (
        "見出し「{header}」が2回あります。最初の列を使います。",
        "Heading '{header}' appears twice; the first column is used.",
    ),
    "unknown_header": (
        "見出し「{header}」は様式にないため無視します。",
        "Heading '{header}' is not in the template and is ignored.",
    ),
}


def _fill(template: str, **values: Any) -> str:
    return template.format(**values)


def row_message(rule: str, column: Any, value: Any, header: str | None = None) -> str:
    """The message for one wrong cell, naming its column as the file heads it (``header``);
    ``column`` None: a rule of the whole row."""
    ja, en = RULES[rule]
    values = {
        "column": header or (column.header if column is not None else ""),
        "value": "" if value is None else value,
        "codes": " / ".join(column.codes) if column is not None and column.codes else "",
        "range": _range(*column.bounds) if column is not None else "",
    }
    return f"{_fill(ja, **values)} / {_fill(en, **values)}"


def _range(low: float | None, high: float | None) -> str:
    """A column's bounds as a person reads them: 0–2,147,483,647, ≥ 0, ≤ 100."""

    def number(x: float) -> str:
        return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"

    if low is not None and high is not None:
        return f"{number(low)}–{number(high)}"
    if low is not None:
        return f"≥ {number(low)}"
    return f"≤ {number(high)}" if high is not None else ""


def file_message(code: str, **values: Any) -> str:
    ja, en = FILES[code]
    return f"{_fill(ja, **values)} / {_fill(en, **values)}"
