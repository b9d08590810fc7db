"""The normalizers: every accepted form of a number, date, fiscal year, ward and flag."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.ingest import normalize as nz


def to_fullwidth(text: str) -> str:
    return text.translate(str.maketrans("0123456789,", "０１２３４５６７８９，"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234", 1234.0),
        ("１２３", 123.0),
        ("12件", 12.0),
        ("3か所", 3.0),
        ("1,200部", 1200.0),
        ("45分", 45.0),
        ("  7 人 ", 7.0),
        ("-5", -5.0),
        ("2.5", 2.5),
        (12, 12.0),
        (3.0, 3.0),
    ],
)
def test_numbers_with_separators_units_and_full_width(text, expected):
    assert nz.parse_number(text) == expected


@pytest.mark.parametrize("text", ["abc", "1,23", "12kg", "1.2.3", "約10"])
def test_non_numbers_are_flagged(text):
    assert nz.parse_number(text) is nz.MISSING


@given(
    st.integers(min_value=0, max_value=10**9),
    st.sampled_from(["", "件", "人", "回", "か所", "部"]),
    st.booleans(),
    st.booleans(),
)
def test_any_count_round_trips(number, unit, separators, fullwidth):
    text = f"{number:,}" if separators else str(number)
    text = to_fullwidth(text) if fullwidth else text
    assert nz.parse_number(text + unit) == float(number)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024/4/3", dt.date(2024, 4, 3)),
        ("2024-04-03", dt.date(2024, 4, 3)),
        ("2024年4月3日", dt.date(2024, 4, 3)),
        ("R6.4.3", dt.date(2024, 4, 3)),
        ("R06/04/03", dt.date(2024, 4, 3)),
        ("令和6年4月3日", dt.date(2024, 4, 3)),
        ("H31.4.30", dt.date(2019, 4, 30)),
        ("令和元年5月1日", dt.date(2019, 5, 1)),
        ("２０２４／４／３", dt.date(2024, 4, 3)),
        (45385, dt.date(2024, 4, 3)),
        (dt.datetime(2024, 4, 3, 0, 0), dt.date(2024, 4, 3)),
        ("2024/4/3 10:15", dt.date(2024, 4, 3)),
    ],
)
def test_every_date_form(text, expected):
    assert nz.parse_date(text) == expected


@pytest.mark.parametrize(
    "text", ["R6.4.31", "2024/2/30", "H31.5.1", "R1.4.30", "来週", "2024/13/1"]
)
def test_impossible_dates_are_flagged(text):
    assert nz.parse_date(text) is nz.MISSING


@given(st.dates(min_value=dt.date(1989, 1, 8), max_value=dt.date(2099, 12, 31)))
def test_era_dates_round_trip(day):
    if day >= dt.date(2019, 5, 1):
        era, year = "令和", day.year - 2018
        short = "R"
    else:
        era, year = "平成", day.year - 1988
        short = "H"
    label = "元" if year == 1 else str(year)
    assert nz.parse_date(f"{era}{label}年{day.month}月{day.day}日") == day
    assert nz.parse_date(f"{short}{year}.{day.month}.{day.day}") == day
    assert nz.parse_date(f"{short}{year:02d}/{day.month:02d}/{day.day:02d}") == day


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_fiscal_year_runs_april_to_march(day):
    fiscal_year = nz.fiscal_year_of(day)
    assert dt.date(fiscal_year, 4, 1) <= day <= dt.date(fiscal_year + 1, 3, 31)


@pytest.mark.parametrize(
    "label", ["2024", "2024年度", "令和6年度", "R6", "R6年度", "ｒ６", "FY2024", 2024, 2024.0]
)
def test_fiscal_year_labels(label):
    assert nz.parse_fiscal_year(label) == 2024


def test_first_reiwa_year_is_gan():
    assert nz.parse_fiscal_year("令和元年度") == 2019
    assert nz.parse_fiscal_year("平成30年度") == 2018


@given(st.integers(min_value=2019, max_value=2099))
def test_reiwa_fiscal_years_round_trip(year):
    era_year = "元" if year == 2019 else str(year - 2018)
    assert nz.parse_fiscal_year(f"令和{era_year}年度") == year
    assert nz.parse_fiscal_year(f"R{year - 2018}") == year


@pytest.mark.parametrize(
    ("label", "year"),
    [
        ("R6", 2024),
        ("平成30年", 2018),
        ("H30", 2018),
        ("2021", 2021),
        ("令和3年", 2021),
        ("2021年", 2021),
        ("令和元年", 2019),
    ],
)
def test_start_years(label, year):
    assert nz.parse_year(label) == year


def test_ward_in_every_accepted_form():
    for form in [
        "東淀川",
        "東淀川区",
        "27114",
        "271144",
        "Higashiyodogawa",
        "higashiyodogawa-ku",
        "ＨＩＧＡＳＨＩＹＯＤＯＧＡＷＡ",
        "２７１１４４",
    ]:
        assert nz.ward_code(form) == "271144", form


@given(
    st.sampled_from(list(nz.ward_table().itertuples())),
    st.sampled_from(["ward_name", "ward_name_short", "ward_code", "ward_code5", "ward_name_en"]),
)
def test_every_ward_in_every_form(ward, form):
    assert nz.ward_code(getattr(ward, form)) == ward.ward_code


@pytest.mark.parametrize("text", ["堺市", "北", "99999", "Kitaa"])
def test_unknown_wards(text):
    assert nz.ward_code(text) is nz.MISSING or (text == "北" and nz.ward_code(text) == "271276")


def test_ward_from_file_name_prefers_the_longest_name():
    assert nz.ward_in_name("R6_東淀川区_居場所.xlsx") == "271144"
    assert nz.ward_in_name("R6_淀川区_居場所.xlsx") == "271233"
    assert nz.ward_in_name("FY2024_Higashiyodogawa-ku_places.xlsx") == "271144"
    assert nz.ward_in_name("2024_kita.csv") == "271276"
    assert nz.ward_in_name("consultations_2024-04.xlsx") is None


def test_fiscal_year_from_file_name():
    assert nz.fiscal_year_in_name("R6_北区.xlsx") == 2024
    assert nz.fiscal_year_in_name("令和元年度_北区.csv") == 2019
    assert nz.fiscal_year_in_name("2023_Kita_ibasho.csv") == 2023
    assert nz.fiscal_year_in_name("FY2022_Nishi-ku_places.xlsx") == 2022
    assert nz.fiscal_year_in_name("places.xlsx") is None


@pytest.mark.parametrize("mark", ["○", "◯", "有", "あり", "1", "✓", "TRUE", "true", 1, True])
def test_yes_flags(mark):
    assert nz.parse_flag(mark) is True


@pytest.mark.parametrize("mark", [None, "", "無", "なし", "0", "×", "FALSE", 0, False])
def test_no_flags(mark):
    assert nz.parse_flag(mark) is False


def test_headers_match_across_widths_spaces_line_breaks_and_wave_dashes():
    assert nz.header_key("延べ\n参加者数") == nz.header_key("延べ参加者数")
    assert nz.header_key(" 対応時間（分） ") == nz.header_key("対応時間(分)")
    assert nz.code_key("月2～3回") == nz.code_key("月2〜3回") == nz.code_key("月2~3回")


def test_nfkc_is_columnwise_and_keeps_excel_types():
    values = pd.Series(["　ＮＰＯ法人 ", None, "㈱髙", ""], dtype=object)
    assert nz.nfkc_text(values).tolist() == ["NPO法人", None, "(株)髙", None]
    mixed = pd.Series(["１２", 12, dt.datetime(2024, 4, 3)], dtype=object)
    assert nz.nfkc_text(mixed).tolist() == ["12", 12, dt.datetime(2024, 4, 3)]
