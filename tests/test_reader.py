"""The generic reader against every rule of docs/submissions.md, with small real files."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.foundation.settings import SAMPLE_DIR
from pipelines.ingest.contract import load_contract
from pipelines.ingest.reader import read_submission
from pipelines.ingest.workbook import check_workbook_archive
from tests.conftest import xlsx_bytes, zip_bomb_xlsx

IBASHO = load_contract("ibasho_survey")
FACILITY = load_contract("facility_initiatives")
CONSULT = load_contract("consultations")
PLAN = load_contract("plan_indicators")

HEADER = (
    "年度,区名,地域名,活動ID,活動名称,活動種別,主な対象,開催頻度,年間開催回数,延べ参加者数,開始年"
)


def csv_bytes(lines: list[str], encoding: str = "utf-8") -> bytes:
    data = ("\r\n".join(lines) + "\r\n").encode("cp932" if encoding == "cp932" else "utf-8")
    return b"\xef\xbb\xbf" + data if encoding == "utf-8-sig" else data


def place(n: int, **override: str) -> str:
    row = {
        "年度": "R6",
        "区名": "北区",
        "地域名": "曽根崎地域",
        "活動ID": f"K-{n:03d}",
        "活動名称": f"ふれあい喫茶{n}",
        "活動種別": "ふれあい喫茶・サロン",
        "主な対象": "高齢者",
        "開催頻度": "月1回",
        "年間開催回数": "12",
        "延べ参加者数": "240",
        "開始年": "2020",
    }
    row.update(override)
    return ",".join(row.values())


def good_places(count: int = 6) -> list[str]:
    return [place(n) for n in range(1, count + 1)]


def quarantined(result) -> dict[tuple[int, str], str]:
    return {(q.row_number, q.column): q.rule for q in result.quarantine.itertuples()}


# --- files and encodings --------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_csv_in_every_encoding_with_characters_shift_jis_cannot_hold(encoding):
    lines = [HEADER, place(1, 活動名称="喫茶～ひまわり①㈱髙"), *good_places()[1:]]
    result = read_submission(csv_bytes(lines, encoding), "R6_北区_居場所.csv", IBASHO)
    assert result.status == "loaded", result.reason
    assert result.rows.loc[0, "activity_name"] == "喫茶～ひまわり①㈱髙"  # stored as sent
    assert result.rows.loc[0, "activity_name_key"] == "喫茶~ひまわり1(株)髙"  # for matching
    assert result.rows_loaded == 6


def test_xlsx_reads_the_data_sheet_below_a_title_and_date_line():
    rows = [
        ["令和6年度 居場所活動調査"],
        ["北区社会福祉協議会", None, "提出日", dt.datetime(2025, 4, 20)],
        [],
        HEADER.split(","),
        *[r.split(",") for r in good_places()],
    ]
    data = xlsx_bytes({"記入要領": [["このシートは説明です"]], "データ": rows})
    result = read_submission(data, "R6_北区.xlsx", IBASHO)
    assert (result.status, result.sheet, result.rows_loaded) == ("loaded", "データ", 6)
    assert result.rows["source_row"].tolist() == [5, 6, 7, 8, 9, 10]


def test_xlsx_without_a_data_sheet_uses_the_first_sheet():
    data = xlsx_bytes(
        {"Sheet1": [HEADER.split(","), *[r.split(",") for r in good_places()]], "メモ": [["x"]]}
    )
    assert read_submission(data, "R6_北区.xlsx", IBASHO).sheet == "Sheet1"
    # A memo sheet first: the sender is told which sheet was read and where the data belongs.
    data = xlsx_bytes(
        {"メモ": [["x"]], "Sheet1": [HEADER.split(","), *[r.split(",") for r in good_places()]]}
    )
    refused = read_submission(data, "R6_北区.xlsx", IBASHO)
    assert refused.status == "rejected"
    assert "シート「メモ」" in refused.reason and "「Sheet1」" in refused.reason
    assert "named データ" in refused.reason


def test_headers_in_english_any_order_full_width_and_with_line_breaks():
    header = [
        "activity_name",
        "ward",
        "district",
        "ＦＩＳＣＡＬ_ＹＥＡＲ",
        "活動\n種別",
        " 開催頻度 ",
    ]
    body = [
        [f"サロン{n}", "Kita", "菅北地域", "2024", "高齢者サロン", "月2～3回"] for n in range(4)
    ]
    result = read_submission(xlsx_bytes({"Sheet1": [header, *body]}), "R6_北区.xlsx", IBASHO)
    assert result.status == "loaded", result.reason
    assert set(result.rows["frequency"]) == {"月2〜3回"}
    assert set(result.rows["ward"]) == {"271276"}


def test_unknown_extra_columns_are_ignored_with_a_warning():
    lines = [HEADER + ",担当者メモ", *[r + ",メモ" for r in good_places()]]
    result = read_submission(csv_bytes(lines), "R6_北区.csv", IBASHO)
    assert result.status == "loaded"
    assert any("担当者メモ" in w for w in result.warnings)
    assert "担当者メモ" not in result.rows.columns


def test_values_with_thousands_separators_units_full_width_and_era_years():
    lines = [
        HEADER,
        place(1, 年間開催回数="１２回", 延べ参加者数='"1,234人"', 開始年="H30"),
        *good_places()[1:],
    ]
    row = read_submission(csv_bytes(lines), "R6_北区.csv", IBASHO).rows.iloc[0]
    assert (row.sessions_per_year, row.participants, row.start_year) == (12, 1234, 2018)


# --- rows that are not data -----------------------------------------------------------------


def test_blank_totals_and_note_rows_are_skipped_and_counted():
    lines = [
        HEADER,
        *good_places(),
        ",,,,,,,,,,",
        "合計,,,,,,,,72,1440,",
        ",小計,,,,,,,,,",
        "※延べ参加者数は年間合計",
        "注：休止中の活動を除く",
    ]
    result = read_submission(csv_bytes(lines), "R6_北区.csv", IBASHO)
    assert (result.rows_read, result.rows_loaded, result.rows_skipped) == (11, 6, 5)
    assert result.accounted


# --- rows that are wrong: quarantined, the rest loads --------------------------------------


def test_each_wrong_row_is_quarantined_with_row_column_value_and_rule():
    lines = [
        HEADER,
        *good_places(8),
        place(20, 地域名=""),  # row 10: required missing
        place(21, 活動種別="カラオケ"),  # row 11: not in code list
        place(22, 延べ参加者数="-3"),  # row 12: negative count
        place(23, 年間開催回数="たくさん"),  # row 13: not a number
        place(24, 区名="堺市"),  # row 14: unknown ward
        place(25, 年度="R5"),  # row 15: fiscal year contradicts
        place(1, 活動名称="別名"),  # row 16: duplicate key K-001
    ]
    result = read_submission(csv_bytes(lines), "R6_北区.csv", IBASHO)
    assert result.status == "loaded"
    assert quarantined(result) == {
        (10, "district"): "required_missing",
        (11, "activity_type"): "not_in_code_list",
        (12, "participants"): "negative_count",
        (13, "sessions_per_year"): "not_a_number",
        (14, "ward"): "unknown_ward",
        (15, "fiscal_year"): "fiscal_year_mismatch",
        (16, "activity_id"): "duplicate_key",
    }
    assert result.rows_loaded == 8 and result.rows_quarantined == 7 and result.accounted
    issue = result.quarantine.set_index("row_number").loc[11]
    assert issue["value"] == "カラオケ" and issue["header"] == "活動種別"
    assert "活動種別" in issue["message"] and "allowed values" in issue["message"]


def test_a_count_larger_than_the_warehouse_holds_is_quarantined_not_a_failed_run():
    """Counts are INTEGER in the warehouse: 3,000,000,000 loaded, then failed every dbt build;
    a 20-digit number stopped the reader itself (and with it every file after it)."""
    lines = [
        HEADER,
        place(1, 延べ参加者数="3000000000"),  # row 2
        place(2, 年間開催回数="99999999999999999999"),  # row 3
        place(3, 延べ参加者数="2147483647"),  # row 4: the largest that fits
        *[place(n) for n in range(4, 9)],
    ]
    result = read_submission(csv_bytes(lines, "cp932"), "R6_北区.csv", IBASHO)
    assert result.status == "loaded", result.reason
    assert quarantined(result) == {
        (2, "participants"): "out_of_range",
        (3, "sessions_per_year"): "out_of_range",
    }
    assert result.rows["participants"].max() == 2147483647 and result.accounted
    message = result.quarantine.set_index("row_number").loc[2, "message"]
    assert "範囲外" in message and "0–2,147,483,647" in message


def test_a_row_with_more_cells_than_the_header_is_quarantined_whole_without_its_values():
    """An unquoted comma in a cell shifts the row's cells: none is under its heading. The
    first such row stopped the reader (pandas took its first cell as an index); a later one
    loaded shifted. Now the row is quarantined whole, its values not kept: a comma in a
    consultation's name moved the caller's e-mail address into 相談内容, and from there into
    the quarantine that analysts read."""
    for at in (0, 2):
        rows = good_places(6)
        rows[at] += ",お菓子あり"
        result = read_submission(csv_bytes([HEADER, *rows], "cp932"), "R6_北区.csv", IBASHO)
        assert result.status == "loaded", result.reason
        assert quarantined(result) == {(at + 2, "*"): "extra_cells"} and result.accounted
        assert result.rows_loaded == 5 and not any("''" in w for w in result.warnings)
    header = (
        "受付番号,受付日,受付方法,相談者区分,相談者氏名,電話番号,メールアドレス,相談内容,居住区"
    )
    lines = [
        header,
        "V-1,2024/5/1,来所,個人,山田,太郎,06-1234-5678,yamada.taro@example.jp,災害ボランティア,北区",
        *[
            f"V-{n},2024/5/{n},電話,個人,佐藤 花子,06-1111-2222,s@example.jp,団体運営,北区"
            for n in range(2, 6)
        ],
    ]
    result = read_submission(csv_bytes(lines), "相談記録_2024-05.csv", CONSULT)
    assert quarantined(result) == {(2, "*"): "extra_cells"}
    kept = result.rows.to_csv() + result.quarantine.to_csv() + " ".join(result.warnings)
    assert "yamada" not in kept and "太郎" not in kept and "06-1234" not in kept
    # A header row that ends in a comma names no column there: a shifted row fits its width.
    result = read_submission(
        csv_bytes([lines[0] + ",", *lines[1:]]), "相談記録_2024-05.csv", CONSULT
    )
    assert quarantined(result) == {(2, "*"): "extra_cells"}
    kept = result.rows.to_csv() + result.quarantine.to_csv() + " ".join(result.warnings)
    assert "yamada" not in kept and "太郎" not in kept


def test_a_quote_left_open_rejects_the_file_naming_its_line_not_swallowing_the_rows():
    """A quote opened in a cell and never closed made every line after it one cell: the
    file loaded one row of three, without a word. A quoted cell with a line break is kept."""
    rows = good_places(6)
    rows[1] = place(2, 開始年='"2020')  # opened on the file's line 3, never closed
    refused = read_submission(csv_bytes([HEADER, *rows]), "R6_北区.csv", IBASHO)
    assert refused.status == "rejected" and "3行目" in refused.reason, refused.reason
    assert "line 3 is never closed" in refused.reason
    rows = good_places(6)
    rows[1] = place(2, 開始年='"2020\n"')  # a line break inside a quoted cell
    assert read_submission(csv_bytes([HEADER, *rows]), "R6_北区.csv", IBASHO).rows_loaded == 6
    # A quote inside an unquoted cell is a character (as Excel reads it) ...
    rows = good_places(6)
    rows[0] = place(1, 活動名称='サロン"ひだまり')
    assert read_submission(csv_bytes([HEADER, *rows]), "R6_北区.csv", IBASHO).rows_loaded == 6
    # ... and does not hide a quoted cell left open after it (the quotes' count is even), nor
    # does a quoted cell with text after its closing quote ("ひだまり"2号).
    rows[1] = place(2, 活動名称='"ひだまり"2号')
    rows[3] = place(4, 活動名称='"サロン')
    refused = read_submission(csv_bytes([HEADER, *rows]), "R6_北区.csv", IBASHO)
    assert refused.status == "rejected" and "5行目" in refused.reason, refused.reason
    # In the header, a quote left open would take the rows for headings: refused the same.
    opened = HEADER.replace("区名", '"区名', 1)
    refused = read_submission(csv_bytes([opened, *good_places()]), "R6_北区.csv", IBASHO)
    assert refused.status == "rejected" and "1行目" in refused.reason, refused.reason
    assert "ふれあい喫茶" not in refused.reason


def test_a_file_that_trips_the_reader_is_rejected_with_a_reason(monkeypatch):
    """Whatever the reader has not foreseen ends that file alone, rejected: a step that raised
    was retried, then held back every later file of its source."""
    import pipelines.ingest.reader as reader

    def unforeseen(*args, **kwargs):
        raise TypeError("something no file should do")

    monkeypatch.setattr(reader, "_read_table", unforeseen)
    result = read_submission(csv_bytes([HEADER, *good_places()]), "R6_北区.csv", IBASHO)
    assert result.status == "rejected" and "TypeError" in result.reason


def test_a_row_from_another_ward_is_quarantined():
    lines = [HEADER, *good_places(), place(30, 区名="中央区")]
    result = read_submission(csv_bytes(lines), "R6_北区.csv", IBASHO)
    assert quarantined(result) == {(8, "ward"): "ward_mismatch"}


def test_unparseable_date_and_unknown_channel_in_a_consultation_export():
    header = "受付番号,受付日,受付方法,相談者区分,相談内容,居住区,対応時間（分）"
    good = [f"V-{n},2024/4/{n},電話,個人,活動したい,北区,30" for n in range(1, 7)]
    lines = [
        header,
        *good,
        "V-90,R6.4.31,電話,個人,活動したい,北区,30",
        "V-91,2024/4/9,FAX,個人,活動したい,市外,30",
        # Year 1 is a typo (and its month a year before has no year: the history check broke)
        "V-92,0001-04-01,電話,個人,活動したい,北区,30",
    ]
    result = read_submission(csv_bytes(lines), "consultations_2024-04.csv", CONSULT)
    assert quarantined(result) == {
        (8, "received_on"): "invalid_date",
        (9, "channel"): "not_in_code_list",
        (10, "received_on"): "invalid_date",
    }
    assert result.rows["fiscal_year"].tolist() == [2024] * 6
    assert (result.period_start, result.period_end) == (dt.date(2024, 4, 1), dt.date(2024, 4, 6))


def test_facility_flags_in_every_form_and_a_bad_flag():
    header = "年度,施設番号,施設名,分野,所在区,居場所・交流の場,相談支援,災害時支援"
    marks = ["○", "◯", "有", "あり", "1", "✓", "TRUE"]
    rows = [f"2024,S{n},施設{n},保育,北区,{mark},,×" for n, mark in enumerate(marks)]
    rows += ["2024,S90,施設90,保育,北区,,無,なし", "2024,S91,施設91,老人,北区,たぶん,,"]
    result = read_submission(csv_bytes(rows and [header, *rows]), "R6_施設.csv", FACILITY)
    assert result.rows["initiative_ibasho"].tolist() == [True] * 7 + [False]
    assert not result.rows["initiative_disaster"].any()
    assert quarantined(result) == {(10, "initiative_ibasho"): "invalid_flag"}


def test_role_out_of_range_in_plan_indicators():
    header = "年度,役割,指標コード,指標名,値,単位"
    rows = [f'令和6年度,{n},code{n},指標{n},"1,000",部' for n in range(1, 7)]
    result = read_submission(
        csv_bytes([header, *rows, "令和6年度,7,x,x,1,部"]), "R6_計画.csv", PLAN
    )
    assert quarantined(result) == {(8, "role"): "out_of_range"}
    assert result.rows["value"].tolist() == [1000.0] * 6


# --- files that are wrong: rejected whole ---------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"PK\x03\x04 not really a zip", "R6_北区.xlsx", "corrupt"),
        (b"\x81\x7f\x81\x20 broken", "R6_北区.csv", "neither UTF-8 nor CP932"),
        (b"", "R6_北区.csv", "The file is empty (0 bytes)"),
        (b"", "R6_北区.xlsx", "The file is empty (0 bytes)"),
        ("メモ\r\nこんにちは\r\n".encode(), "R6_北区.csv", "No header row"),
        (HEADER.encode() + b"\r\n", "R6_北区.csv", "no data rows"),
        (
            "年度,地域名,活動ID,活動名称,活動種別\r\nR6,曽根崎地域,1,x,その他\r\n".encode(),
            "R6_北区.csv",
            "区名 (ward)",
        ),
        (b"a,b\r\n1,2\r\n", "R6_北区.pdf", "Unsupported file type"),
    ],
)
def test_files_that_cannot_be_used_are_rejected_with_a_reason(data, name, reason):
    result = read_submission(data, name, IBASHO)
    assert result.status == "rejected"
    assert reason in result.reason
    assert result.rows_loaded == 0


def test_file_name_and_contents_disagreeing_on_ward_or_year_is_rejected():
    data = csv_bytes([HEADER, *good_places()])
    assert "中央区" in read_submission(data, "R6_中央区_居場所.csv", IBASHO).reason
    assert "FY2023" in read_submission(data, "R5_北区_居場所.csv", IBASHO).reason


def test_a_file_mostly_wrong_is_rejected_not_half_loaded():
    lines = [HEADER, *good_places(3), *[place(n, 活動種別="カラオケ") for n in range(10, 14)]]
    result = read_submission(csv_bytes(lines), "R6_北区.csv", IBASHO)
    assert result.status == "rejected" and "4 of 7" in result.reason
    assert result.rows_rejected == 7 and result.accounted


def test_year_from_the_file_name_when_the_column_is_blank():
    lines = [HEADER, *[place(n, 年度="") for n in range(1, 5)]]
    result = read_submission(csv_bytes(lines), "令和6年度_北区_居場所.csv", IBASHO)
    assert result.fiscal_year == 2024 and set(result.rows["fiscal_year"]) == {2024}


# --- personal data --------------------------------------------------------------------------


def test_personal_data_columns_are_dropped_on_read():
    header = "受付番号,受付日,受付方法,相談者氏名,電話番号,メールアドレス,相談内容,相談者区分,住所,居住区"
    rows = [
        f"V-{n},R6.4.{n},来所,山田 太郎{n},06-1234-000{n},taro{n}@example.jp,団体運営,個人,"
        f"大阪市北区梅田{n},北区"
        for n in range(1, 5)
    ]
    rows.append("V-9,R6.4.40,来所,鈴木 花子,090-0000-0000,hanako@example.jp,団体運営,個人,x,北区")
    result = read_submission(csv_bytes([header, *rows], "cp932"), "export.csv", CONSULT)
    assert set(result.personal_columns_dropped) == {
        "相談者氏名",
        "電話番号",
        "メールアドレス",
        "住所",
    }
    everything = result.rows.to_string() + result.quarantine.to_string() + " ".join(result.warnings)
    for secret in ("山田", "06-1234", "example.jp", "梅田", "鈴木", "090-0000"):
        assert secret not in everything


# --- workbooks as some exporters write them, and hostile files --------------------------------


def _with_stale_dimension(data: bytes, ref: str) -> bytes:
    """The same workbook with its sheet's <dimension> element rewritten to ``ref``."""
    import io
    import re
    import zipfile

    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            body = source.read(item)
            if item.filename.startswith("xl/worksheets/sheet"):
                body, count = re.subn(
                    rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), body
                )
                assert count == 1
            target.writestr(item, body)
    return out.getvalue()


def test_every_row_of_a_workbook_is_read_whatever_its_dimension_element_says():
    rows = [[cell for cell in HEADER.split(",")]]
    rows += [place(n).split(",") for n in range(82)]
    stale = _with_stale_dimension(xlsx_bytes({"データ": rows}), "A1:K6")
    result = read_submission(stale, "R6_北区.xlsx", IBASHO)
    assert result.status == "loaded"
    assert result.rows_read == 82 and result.rows_loaded == 82


@pytest.mark.parametrize(
    ("bomb", "reason"),
    [
        ({}, "sheet1.xml"),  # a sheet of 300 MB
        ({"part": "docProps/core.xml", "unzipped_mb": 40}, "docProps/core.xml"),
        ({"part": "xl/sharedStrings.xml", "unzipped_mb": 80}, "sharedStrings.xml"),
        ({"part": "xl/styles.xml", "unzipped_mb": 10}, "packed"),  # 10 MB in a few KB
        ({"unzipped_mb": 0, "extra_entries": 10_001}, "too many parts"),
    ],
)
def test_a_workbook_that_would_unpack_past_the_limits_is_refused_before_any_of_it_is(bomb, reason):
    """Zip bombs in every part openpyxl reads (sheets streamed, shared strings, properties
    and styles read whole), in all parts together, or in many parts: each refused from what
    the zip's directory declares, before anything is inflated, with a reason in both
    languages. (Memory while refusing: `make benchmark`.)"""
    data = zip_bomb_xlsx(HEADER.split(","), **bomb)
    assert len(data) < 5 * 2**20
    result = read_submission(data, "R6_北区.xlsx", IBASHO)
    assert result.status == "rejected" and reason in result.reason, result.reason
    assert " / " in result.reason


def test_a_workbook_whose_parts_together_unpack_past_the_limit_is_refused(monkeypatch):
    """Each part within its limit and packed as Excel packs, all of them together too much
    (the limit lowered to a megabyte, so the workbook stays small)."""
    import random

    from pipelines.ingest import workbook

    monkeypatch.setattr(workbook, "MAX_UNPACKED_BYTES", 2**20)
    rows = [HEADER.split(",")]
    rows += [[str(random.Random(n).random()) for _ in range(11)] for n in range(4_000)]
    data = xlsx_bytes({"データ": rows})
    result = read_submission(data, "R6_北区.xlsx", IBASHO)
    assert result.status == "rejected" and "unpacks to too much" in result.reason


def test_the_sample_workbooks_are_within_every_limit():
    for path in sorted(SAMPLE_DIR.glob("*/*.xlsx")):
        check_workbook_archive(path.read_bytes())  # raises for a workbook past a limit


def test_a_csv_with_ten_thousand_columns_or_a_100_mb_line_is_refused():
    extra = ",".join(f"列{n}" for n in range(10_000 - len(HEADER.split(","))))
    wide = csv_bytes([f"{HEADER},{extra}", place(1)])
    result = read_submission(wide, "R6_北区.csv", IBASHO)
    assert result.status == "rejected" and "Too many columns (10,000" in result.reason
    long_line = HEADER.encode() + b"\r\n" + b"x" * (100 * 2**20) + b"\r\n"
    result = read_submission(long_line, "R6_北区.csv", IBASHO)
    assert result.status == "rejected" and "longer than 1,000,000 characters" in result.reason


def test_free_text_is_kept_as_sent_and_matched_by_its_normalized_key():
    lines = [
        HEADER,
        place(1, 活動名称="  ①サロン（㈱協力）Ⅲ期  ", 地域名="曽根崎　地域"),
        place(2, 活動名称="1サロン ((株)協力)III期", 地域名="曽根崎地域", 活動ID=""),
        *good_places()[2:],
    ]
    result = read_submission(csv_bytes(lines), "R6_北区_居場所.csv", IBASHO)
    assert result.status == "loaded", result.reason
    first = result.rows.iloc[0]
    assert first["activity_name"] == "①サロン（㈱協力）Ⅲ期"  # trimmed, nothing else
    assert first["district"] == "曽根崎　地域"
    assert first["activity_name_key"] == "1サロン((株)協力)III期"
    assert first["district_key"] == "曽根崎地域"
    # The second row is the same place by ward + district + name: quarantined as a repeat.
    assert result.quarantine["rule"].tolist() == ["duplicate_key"]


def test_files_read_by_the_worker_pool_give_what_reading_them_here_gives(monkeypatch):
    """A sizeable batch is read on every core (pipelines.intake.parallel_read): the same rows,
    quarantine, counts and verdicts as reading each file in this process."""
    from pipelines.foundation.settings import SAMPLE_DIR
    from pipelines.intake import parallel_read

    monkeypatch.setattr(parallel_read, "PARALLEL_BYTES", 0)  # these small files too
    folder = SAMPLE_DIR / "ibasho_survey"
    names = [
        "2022_Nishi_ibasho.csv",  # CP932, quarantined rows
        "FY2022_Hirano-ku_places.xlsx",  # a workbook
        "R6_西成区_居場所活動調査_修正版.csv",  # rejected: its rows say another ward
    ]
    files = [((folder / name).read_bytes(), name) for name in names]
    contract = load_contract("ibasho_survey")
    here = [read_submission(data, name, contract) for data, name in files]
    pooled = parallel_read.start_reading(files, contract)()
    assert [r.status for r in here] == ["loaded", "loaded", "rejected"]
    for mine, theirs in zip(here, pooled, strict=True):
        assert (mine.status, mine.reason, mine.submitter_code, mine.fiscal_year) == (
            theirs.status,
            theirs.reason,
            theirs.submitter_code,
            theirs.fiscal_year,
        )
        assert mine.accounted and theirs.accounted
        assert (mine.rows_read, mine.rows_loaded, mine.rows_quarantined) == (
            theirs.rows_read,
            theirs.rows_loaded,
            theirs.rows_quarantined,
        )
        assert mine.rows.equals(theirs.rows)
        assert mine.quarantine.reset_index(drop=True).equals(
            theirs.quarantine.reset_index(drop=True)
        )


@pytest.mark.parametrize(
    "body",
    [
        '"ab"c,d\n',  # text after a closing quote
        'ab"c,d\n',  # a quote inside a cell
        'a,"b\nc"\n',  # a line break inside quotes
        "a,b\r\nc,d",  # CRLF, no newline at the end
        "a,b\rc,d\r",  # old Mac line ends
        '"a""b",c\n',  # a doubled quote
        " a , b \n",  # spaces kept (NFKC and trimming come later)
        'a,""\n"",b\n',  # quoted blanks
        "a,b\n\n,\n",  # a blank line, a row of blanks
        "NA,null\n#c,d\n",  # no value means "missing" but a blank cell
    ],
)
def test_arrow_splits_a_csv_into_the_cells_pandas_gives(body):
    """A CSV body is split by Arrow's reader; what it declines goes to pandas as before. Where
    Arrow takes a body, its cells and rows are pandas' exactly."""
    from pipelines.ingest.cells import _arrow_csv_body, _pandas_csv_body

    arrow = _arrow_csv_body(body, 2)
    assert arrow is not None
    _, pandas_cells = _pandas_csv_body(body, ["x", "y"])
    cells = arrow.astype(object).where(arrow.notna(), None)
    assert cells.values.tolist() == pandas_cells.values.tolist()


def test_a_body_arrow_declines_is_split_by_pandas():
    from pipelines.ingest.cells import _arrow_csv_body, _csv_body, _pandas_csv_body

    for ragged in ("a,b,c\nd,e\n", "a\nb,c\n", '"a,b\n'):
        assert _arrow_csv_body(ragged, 2) is None
        header, body = _csv_body(ragged, ["x", "y"])
        pandas_header, pandas_body = _pandas_csv_body(ragged, ["x", "y"])
        assert header == pandas_header and body.equals(pandas_body)


def test_a_workbook_with_more_cells_than_memory_should_hold_is_refused(monkeypatch):
    """Cells within every other limit, but more of them than a workbook is read with (the
    limit lowered to keep the test small): refused with the advice to send CSV."""
    from pipelines.ingest import cells

    monkeypatch.setattr(cells, "MAX_CELLS", 500)
    rows = [HEADER.split(","), *(place(n).split(",") for n in range(60))]
    result = read_submission(xlsx_bytes({"データ": rows}), "R6_北区.xlsx", IBASHO)
    assert result.status == "rejected" and "CSV" in result.reason and "500" in result.reason
