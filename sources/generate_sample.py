"""Generate the shipped sample submissions in sources/sample/ (deterministic: same bytes each run).

    uv run python sources/generate_sample.py [OUTPUT_DIR]

The data are invented but shaped like the real thing: 24 ward place surveys for FY2022–FY2024,
the facility council's survey, the volunteer centre's monthly consultation exports (with
personal-data columns, which the pipeline must drop) and the plan indicators. Through the marts
they reproduce the figures the council published (seeds/000_*.txt):

    places 1,791 / 1,920 / 2,182 (FY2022/23/24); 339 facilities with public-interest
    activities and 754 volunteer consultations in FY2024.

On purpose they also carry what real files carry: CP932 and UTF-8 (with and without BOM)
CSVs, .xlsx with title rows and a データ sheet, 和暦 years and dates, full-width digits,
thousands separators and units, totals and note rows, English headers, a resubmission,
overlapping exports, a few wrong rows (quarantined) and one wrong file (rejected).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import sys
import zipfile
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent
SEED = 20250401
FIXED_TIME = dt.datetime(2025, 6, 30, 9, 0, 0)

PLACES = {2022: 1791, 2023: 1920, 2024: 2182}
FACILITIES = {2022: (498, 301), 2023: (505, 318), 2024: (512, 339)}  # members, with activities
CONSULTATIONS = {2023: 702, 2024: 754}

WARDS = [  # code, name, romaji, weight (about the ward's population, in ten-thousands)
    ("271021", "都島区", "Miyakojima", 10),
    ("271039", "福島区", "Fukushima", 8),
    ("271047", "此花区", "Konohana", 6),
    ("271063", "西区", "Nishi", 10),
    ("271071", "港区", "Minato", 8),
    ("271080", "大正区", "Taisho", 6),
    ("271098", "天王寺区", "Tennoji", 8),
    ("271110", "浪速区", "Naniwa", 7),
    ("271136", "西淀川区", "Nishiyodogawa", 9),
    ("271144", "東淀川区", "Higashiyodogawa", 17),
    ("271152", "東成区", "Higashinari", 8),
    ("271161", "生野区", "Ikuno", 12),
    ("271179", "旭区", "Asahi", 9),
    ("271187", "城東区", "Joto", 17),
    ("271195", "阿倍野区", "Abeno", 11),
    ("271209", "住吉区", "Sumiyoshi", 15),
    ("271217", "東住吉区", "Higashisumiyoshi", 13),
    ("271225", "西成区", "Nishinari", 10),
    ("271233", "淀川区", "Yodogawa", 18),
    ("271241", "鶴見区", "Tsurumi", 11),
    ("271250", "住之江区", "Suminoe", 12),
    ("271268", "平野区", "Hirano", 19),
    ("271276", "北区", "Kita", 13),
    ("271284", "中央区", "Chuo", 10),
]
DISTRICT_STEMS = [
    "曽根崎",
    "菅北",
    "堀川",
    "滝川",
    "扇町",
    "豊崎",
    "中津",
    "大淀",
    "済美",
    "西天満",
    "梅田東",
    "桜宮",
    "中野",
    "淀川",
    "高倉",
    "友渕",
    "内代",
    "鯰江",
    "大宮",
    "清水",
    "古市",
    "新森",
    "城北",
    "聖賢",
    "榎本",
    "放出",
    "今福",
    "鶴見",
    "茨田",
    "焼野",
    "緑",
    "横堤",
    "南",
    "北",
    "東",
    "西",
    "長池",
    "阪南",
    "晴明丘",
    "常盤",
    "苗代",
    "住吉",
    "墨江",
    "清水丘",
    "遠里小野",
    "山之内",
    "矢田",
    "湯里",
    "育和",
    "喜連",
    "長吉",
    "瓜破",
    "加美",
    "平野",
    "中浜",
    "森之宮",
    "玉造",
    "天満",
    "真田山",
    "桃陽",
    "五条",
    "聖和",
    "生魂",
    "勝山",
    "鶴橋",
    "中川",
    "舎利寺",
    "林寺",
]
ACTIVITY_TYPES = [  # type, target group, weight, name patterns
    ("ふれあい喫茶・サロン", "高齢者", 30, ["{d}ふれあい喫茶", "喫茶「{f}」", "{d}ふれあいサロン"]),
    ("ふれあい型食事サービス", "高齢者", 12, ["{d}食事サービス", "ふれあい給食会「{f}」"]),
    ("子育てサロン", "子育て世帯", 14, ["{d}子育てサロン", "親子ひろば「{f}」"]),
    ("子ども食堂", "子ども", 10, ["{d}こども食堂", "子ども食堂「{f}」"]),
    ("高齢者サロン", "高齢者", 14, ["{d}いきいきサロン", "百歳体操{d}"]),
    ("認知症カフェ", "高齢者", 6, ["オレンジカフェ{d}", "認知症カフェ「{f}」"]),
    ("多世代交流", "多世代", 7, ["{d}多世代交流会", "みんなの居場所「{f}」"]),
    ("学習支援", "子ども", 4, ["{d}学習会", "寺子屋「{f}」"]),
    ("その他", "その他", 3, ["{d}ふれあい広場", "{f}の会"]),
]
FLOWERS = [
    "ひまわり",
    "さくら",
    "たんぽぽ",
    "すみれ",
    "あじさい",
    "コスモス",
    "つばき",
    "なでしこ",
    "もみじ",
    "わかば",
    "ひだまり",
    "なごみ",
    "えがお",
    "ほっと",
    "にじ",
    "かがやき",
]
OPERATORS = [
    "地域社協",
    "地域社協",
    "地域社協",
    "町会・自治会",
    "NPO法人",
    "社会福祉法人",
    "ボランティアグループ",
    "その他",
]
FREQUENCIES = ["週1回以上", "月2〜3回", "月1回", "月1回未満"]
SESSIONS = {"週1回以上": (48, 150), "月2〜3回": (24, 36), "月1回": (10, 12), "月1回未満": (2, 9)}
FIELDS = [
    ("児童", 0.12),
    ("保育", 0.30),
    ("老人", 0.28),
    ("生保", 0.04),
    ("地域", 0.06),
    ("障がい児者", 0.20),
]
CATEGORIES = [
    "居場所・交流の場",
    "子ども食堂・学習支援",
    "相談支援",
    "生活困窮者支援",
    "災害時支援",
    "福祉人材育成・体験受入",
    "地域行事・交流",
    "その他",
]
FACILITY_KINDS = {
    "児童": ["児童養護施設", "母子生活支援施設", "児童館"],
    "保育": ["保育園", "こども園"],
    "老人": ["特別養護老人ホーム", "デイサービスセンター", "ケアハウス"],
    "生保": ["救護施設", "更生施設"],
    "地域": ["隣保館", "地域福祉センター"],
    "障がい児者": ["障がい者支援施設", "就労支援センター", "生活介護事業所"],
}
YES_MARKS = ["○", "○", "○", "◯", "有", "1", "あり", "TRUE", "✓"]
NO_MARKS = ["", "", "", "", "×", "無", "0", "なし"]
CHANNELS = [("来所", 30), ("電話", 35), ("メール", 20), ("オンライン", 10), ("その他", 5)]
REQUESTERS = [
    ("個人", 55),
    ("団体", 18),
    ("企業", 10),
    ("学校・教育機関", 9),
    ("行政・社協", 5),
    ("その他", 3),
]
TOPICS = [
    ("活動したい", 38),
    ("活動者を求めたい", 20),
    ("団体運営", 12),
    ("資金・助成", 9),
    ("災害ボランティア", 8),
    ("福祉教育・研修", 9),
    ("その他", 4),
]
SURNAMES = [
    "山田",
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山本",
    "松本",
    "井上",
    "木村",
    "林",
    "髙橋",
    "﨑山",
]
GIVEN = ["太郎", "花子", "一郎", "幸子", "健", "由美", "翔", "さくら", "誠", "恵子"]


def weighted(rng: random.Random, pairs):
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def reiwa(year: int) -> str:
    return "元" if year == 2019 else str(year - 2018)


def fy_label(rng: random.Random, fy: int) -> str:
    return rng.choice(
        [f"令和{reiwa(fy)}年度", f"R{fy - 2018}", str(fy), f"{fy}年度", f"R{fy - 2018}年度"]
    )


def allocate(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder split of ``total`` by ``weights``."""
    raw = [total * w / sum(weights) for w in weights]
    counts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)[
        : total - sum(counts)
    ]:
        counts[i] += 1
    return counts


def to_fullwidth(text: str) -> str:
    return text.translate(str.maketrans("0123456789", "０１２３４５６７８９"))


# ---------------------------------------------------------------------------------------------
# Writers: byte-for-byte reproducible


def write_csv(path: Path, rows: list[list], encoding: str) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    data = buffer.getvalue().encode("cp932" if encoding == "cp932" else "utf-8")
    if encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_xlsx(path: Path, sheets: list[tuple[str, list[list]]]) -> None:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.properties.created = workbook.properties.modified = FIXED_TIME
    workbook.properties.creator = "welfare-warehouse sample generator"
    buffer = io.BytesIO()
    workbook.save(buffer)
    # Rewrite the zip with fixed timestamps so the same input gives the same bytes.
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                data = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*",
                    rb"\g<1>" + FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode(),
                    data,
                )
            target.writestr(fixed, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())


# ---------------------------------------------------------------------------------------------
# ibasho_survey


def make_places(rng: random.Random) -> dict[int, dict[str, list[dict]]]:
    """Each ward's places per fiscal year; most places continue from year to year."""
    weights = [w[3] for w in WARDS]
    per_year = {fy: allocate(total, weights) for fy, total in PLACES.items()}
    places: dict[int, dict[str, list[dict]]] = {fy: {} for fy in PLACES}
    for index, (code, _name, romaji, _w) in enumerate(WARDS):
        stems = rng.sample(DISTRICT_STEMS, 12)
        districts = [f"{s}地域" for s in stems]
        serial = 0
        current: list[dict] = []
        used_names: set[tuple[str, str]] = set()
        for fy in sorted(PLACES):
            target = per_year[fy][index]
            keep = [p for p in current if rng.random() > 0.04][:target]
            while len(keep) < target:
                serial += 1
                keep.append(new_place(rng, romaji, serial, districts, fy, used_names))
            current = keep
            places[fy][code] = [year_values(rng, p) for p in current]
    return places


def new_place(rng, romaji, serial, districts, fy, used_names) -> dict:
    activity_type, target, _w, patterns = rng.choices(
        ACTIVITY_TYPES, weights=[a[2] for a in ACTIVITY_TYPES]
    )[0]
    district = rng.choice(districts)
    name = rng.choice(patterns).format(d=district.removesuffix("地域"), f=rng.choice(FLOWERS))
    suffix = 2
    base = name
    while (district, name) in used_names:
        name = f"{base}（第{suffix}）"
        suffix += 1
    used_names.add((district, name))
    return {
        "activity_id": f"{romaji[:3].upper()}-{serial:04d}",
        "district": district,
        "activity_name": name,
        "activity_type": activity_type,
        "target_group": target,
        "operator": rng.choice(OPERATORS),
        "frequency": rng.choice(FREQUENCIES),
        "start_year": rng.randint(2005, fy),
    }


def year_values(rng: random.Random, place: dict) -> dict:
    low, high = SESSIONS[place["frequency"]]
    sessions = rng.randint(low, high)
    return {
        **place,
        "sessions": sessions,
        "participants": sessions * rng.randint(8, 30),
        "volunteers": rng.randint(2, 15),
    }


def start_year_text(rng: random.Random, year: int) -> str:
    if year >= 2019 and rng.random() < 0.3:
        return rng.choice([f"令和{reiwa(year)}年", f"R{year - 2018}"])
    if 1989 < year < 2019 and rng.random() < 0.3:
        return rng.choice([f"平成{year - 1988}年", f"H{year - 1988}"])
    return str(year)


IBASHO_HEADERS = [
    "年度",
    "区名",
    "地域名",
    "活動ID",
    "活動名称",
    "活動種別",
    "主な対象",
    "運営主体",
    "開催頻度",
    "年間開催回数",
    "延べ参加者数",
    "担い手数",
    "開始年",
    "備考",
]
IBASHO_ALIASES = [
    "fiscal_year",
    "ward",
    "district",
    "activity_id",
    "activity_name",
    "activity_type",
    "target_group",
    "operator",
    "frequency",
    "sessions_per_year",
    "participants",
    "volunteers",
    "start_year",
    "note",
]


def ibasho_rows(rng, fy, code, name, romaji, places, style) -> list[list]:
    rows = []
    for place in places:
        ward_text = rng.choice([name, name.removesuffix("区"), name]) if style != 3 else name
        sessions, participants = place["sessions"], place["participants"]
        count_text = (
            f"{participants:,}"
            if participants >= 1000 and rng.random() < 0.5
            else str(participants)
        )
        row = [
            fy_label(rng, fy) if style != 2 else "",
            ward_text,
            place["district"],
            place["activity_id"],
            place["activity_name"],
            place["activity_type"],
            place["target_group"],
            place["operator"],
            place["frequency"].replace("〜", rng.choice(["〜", "～", "~"])),
            str(sessions),
            count_text,
            str(place["volunteers"]),
            start_year_text(rng, place["start_year"]),
            "",
        ]
        if style == 1 and rng.random() < 0.2:  # typed with the IME in full-width mode
            row[9], row[11] = to_fullwidth(row[9]), to_fullwidth(row[11])
        if rng.random() < 0.05:
            row[13] = rng.choice(
                ["夏季休止あり", "会場改修のため一時休止", "R6から会場変更", "新規"]
            )
        rows.append(row)
    return rows


def wrong_ibasho_rows(fy, name, places) -> list[list]:
    """A few rows ward staff get wrong each year: each is quarantined, the rest loads."""
    sample = places[0]
    copy = [
        fy,
        name,
        sample["district"],
        sample["activity_id"],
        sample["activity_name"],
        sample["activity_type"],
        sample["target_group"],
        sample["operator"],
        sample["frequency"],
        str(sample["sessions"]),
        str(sample["participants"]),
        str(sample["volunteers"]),
        str(sample["start_year"]),
        "重複入力",
    ]
    return [
        copy,  # the same place entered twice: the second copy is quarantined
        [
            fy,
            name,
            "",
            "",
            "ひまわりカラオケ",
            "カラオケ教室",
            "高齢者",
            "地域社協",
            "月1回",
            "12",
            "-5",
            "3",
            "2020",
            "",
        ],  # missing district, unknown type, negative count
    ]


def generate_ibasho(out: Path, rng: random.Random) -> None:
    places = make_places(rng)
    # One well-formed but implausible value, so the demo shows a data-quality warning:
    # 北区 FY2024 reports about 250 participants per session for its first place.
    kita = places[2024]["271276"][0]
    kita["participants"] = kita["sessions"] * 250
    for fy, by_ward in places.items():
        for index, (code, name, romaji, _w) in enumerate(WARDS):
            style = (index + fy) % 4
            rows = ibasho_rows(rng, fy, code, name, romaji, by_ward[code], style)
            if (index * 7 + fy) % 9 == 0:
                rows[1:1] = wrong_ibasho_rows(str(fy), name, by_ward[code])
            rows.append(["合計", "", "", "", f"{len(by_ward[code])}か所"] + [""] * 9)
            rows.append(["※延べ参加者数は年間の合計を記入"] + [""] * 13)
            folder = out / "ibasho_survey"
            era = f"R{fy - 2018}"
            if code == "271195" and fy == 2023:
                # 阿倍野区 sent FY2023 twice: the first file missed 10 places, the second
                # (再提出) supersedes it in every mart.
                first = [r for r in rows if r[0] != "合計"][:-11] + rows[-1:]
                write_xlsx(
                    folder / f"{era}_{name}_居場所活動調査.xlsx",
                    [("データ", [IBASHO_HEADERS, *first])],
                )
                write_xlsx(
                    folder / f"{era}_{name}_居場所活動調査_再提出.xlsx",
                    [("データ", [IBASHO_HEADERS, *rows])],
                )
                continue
            if style == 0:
                title = [
                    [f"令和{reiwa(fy)}年度 地域福祉活動状況調査（居場所活動）"],
                    [f"{name}社会福祉協議会", None, None, "提出日", dt.date(fy + 1, 4, 20)],
                    [],
                ]
                headers = [h.replace("延べ参加者数", "延べ\n参加者数") for h in IBASHO_HEADERS]
                write_xlsx(
                    folder / f"{era}_{name}_居場所活動調査.xlsx",
                    [
                        ("表紙", [["記入要領"], ["データシートに入力してください"]]),
                        ("データ", [*title, headers, *rows]),
                    ],
                )
            elif style == 1:
                write_csv(
                    folder / f"{fy}_{romaji}_ibasho.csv",
                    [[f"{name} 居場所活動一覧（令和{reiwa(fy)}年度）"], IBASHO_HEADERS, *rows],
                    "cp932",
                )
            elif style == 2:  # no 年度 column values: the year comes from the file name
                write_csv(
                    folder / f"令和{reiwa(fy)}年度_{name}_居場所.csv",
                    [IBASHO_HEADERS, *rows],
                    "utf-8-sig",
                )
            else:  # English headers, columns in another order
                order = [4, 2, 1, 0, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13]
                header = [IBASHO_ALIASES[i] for i in order]
                body = [
                    [r[i] for i in order]
                    for r in rows
                    if r[0] not in ("合計",) and not str(r[0]).startswith("※")
                ]
                write_xlsx(
                    folder / f"FY{fy}_{romaji}-ku_places.xlsx", [("Sheet1", [header, *body])]
                )
    # One wrong file: named for 西成区 but filled with 住之江区's rows (a copy-paste slip).
    suminoe = places[2024]["271250"][:20]
    rows = ibasho_rows(rng, 2024, "271250", "住之江区", "Suminoe", suminoe, 2)
    write_csv(
        out / "ibasho_survey" / "R6_西成区_居場所活動調査_修正版.csv",
        [IBASHO_HEADERS, *rows],
        "utf-8",
    )


# ---------------------------------------------------------------------------------------------
# facility_initiatives

FACILITY_HEADERS = ["年度", "施設番号", "施設名", "法人名", "分野", "所在区", *CATEGORIES]


def generate_facilities(out: Path, rng: random.Random) -> None:
    members: list[dict] = []
    serial = 0
    for fy in sorted(FACILITIES):
        total, active = FACILITIES[fy]
        while len(members) < total:
            serial += 1
            field = weighted(rng, FIELDS)
            ward = rng.choice(WARDS)
            kind = rng.choice(FACILITY_KINDS[field])
            members.append(
                {
                    "facility_id": f"S{serial:04d}",
                    "field": field,
                    "ward": ward,
                    "facility_name": f"{rng.choice(DISTRICT_STEMS)}{kind}",
                    "corporation": "社会福祉法人"
                    + rng.choice(DISTRICT_STEMS)
                    + rng.choice(["会", "福祉会", "厚生会"]),
                }
            )
        chosen = set(rng.sample(range(total), active))
        rows = []
        for i, member in enumerate(members[:total]):
            flags = [rng.choice(NO_MARKS) for _ in CATEGORIES]
            if i in chosen:
                for c in rng.sample(range(len(CATEGORIES)), rng.randint(1, 3)):
                    flags[c] = rng.choice(
                        YES_MARKS if fy != 2023 else YES_MARKS[:-3]
                    )  # no ✓ in CP932
            ward = member["ward"]
            ward_text = rng.choice([ward[1], ward[0], ward[1].removesuffix("区")])
            rows.append(
                [
                    fy_label(rng, fy),
                    member["facility_id"],
                    member["facility_name"],
                    member["corporation"],
                    member["field"],
                    ward_text,
                    *flags,
                ]
            )
        rows.append(
            [fy_label(rng, fy), "S9001", "（仮）新設準備室", "", "医療", "北区", "○"] + [""] * 7
        )  # 分野 not in the code list: quarantined
        title = [
            [f"令和{reiwa(fy)}年度 公益的な取組み調査 集計表"],
            ["大阪市社会事業施設協議会"],
            [],
        ]
        name = f"R{fy - 2018}_公益的な取組み調査.xlsx"
        if fy == 2023:
            write_csv(
                out / "facility_initiatives" / f"{fy}_facility_initiatives.csv",
                [FACILITY_HEADERS, *rows],
                "cp932",
            )
        else:
            write_xlsx(
                out / "facility_initiatives" / name, [("データ", [*title, FACILITY_HEADERS, *rows])]
            )


# ---------------------------------------------------------------------------------------------
# consultations

CONSULT_HEADERS = [
    "受付番号",
    "受付日",
    "受付方法",
    "相談者区分",
    "相談者氏名",
    "電話番号",
    "メールアドレス",
    "相談内容",
    "居住区",
    "対応時間（分）",
]


def consultation(rng: random.Random, fy: int, number: int, day: dt.date) -> dict:
    requester = weighted(rng, REQUESTERS)
    surname, given = rng.choice(SURNAMES), rng.choice(GIVEN)
    residence = rng.choices(
        [w[1] for w in WARDS] + ["市外", "不明"], weights=[w[3] for w in WARDS] + [25, 8]
    )[0]
    return {
        "id": f"V{fy}-{number:04d}",
        "day": day,
        "channel": weighted(rng, CHANNELS),
        "requester": requester,
        "name": f"{surname} {given}"
        if requester == "個人"
        else f"{surname}{rng.choice(['商店', 'ボランティア会'])}",
        "phone": f"06-{rng.randint(6000, 6999)}-{rng.randint(1000, 9999)}",
        "email": f"user{rng.randint(100, 999)}@example.jp",
        "topic": weighted(rng, TOPICS),
        "residence": residence,
        "minutes": rng.choice([10, 15, 20, 30, 30, 45, 60, 90]),
    }


def consultation_days(rng: random.Random, fy: int, count: int) -> list[dt.date]:
    start = dt.date(fy, 4, 1)
    days = [
        start + dt.timedelta(days=i)
        for i in range(366)
        if (start + dt.timedelta(days=i)) < dt.date(fy + 1, 4, 1)
    ]
    weekdays = [d for d in days if d.weekday() < 5]
    return sorted(rng.choice(weekdays) for _ in range(count))


def date_text(rng: random.Random, day: dt.date) -> str:
    return rng.choice(
        [
            f"{day.year}/{day.month}/{day.day}",
            day.isoformat(),
            f"R{day.year - 2018}.{day.month}.{day.day}",
            f"令和{reiwa(day.year)}年{day.month}月{day.day}日",
            f"R{day.year - 2018:02d}/{day.month:02d}/{day.day:02d}",
        ]
    )


def consult_row(rng, c, as_xlsx: bool) -> list:
    day = c["day"] if as_xlsx and rng.random() < 0.7 else date_text(rng, c["day"])
    return [
        c["id"],
        day,
        c["channel"],
        c["requester"],
        c["name"],
        c["phone"],
        c["email"],
        c["topic"],
        c["residence"],
        c["minutes"] if as_xlsx else f"{c['minutes']}分",
    ]


def generate_consultations(out: Path, rng: random.Random) -> None:
    folder = out / "consultations"
    # FY2023: one annual export, CP932 CSV straight from the case log.
    cases = [
        consultation(rng, 2023, i + 1, d)
        for i, d in enumerate(consultation_days(rng, 2023, CONSULTATIONS[2023]))
    ]
    write_csv(
        folder / "相談記録_2023年度_年間.csv",
        [CONSULT_HEADERS, *[consult_row(rng, c, False) for c in cases]],
        "cp932",
    )
    # FY2024: monthly exports; each also repeats the last week of the month before.
    cases = [
        consultation(rng, 2024, i + 1, d)
        for i, d in enumerate(consultation_days(rng, 2024, CONSULTATIONS[2024]))
    ]
    months = [(2024, m) for m in range(4, 13)] + [(2025, m) for m in range(1, 4)]
    previous: list[dict] = []
    for n, (year, month) in enumerate(months):
        current = [c for c in cases if (c["day"].year, c["day"].month) == (year, month)]
        repeat = [c for c in previous if c["day"].day >= 24]
        if n == 1 and repeat:  # the May export corrects one April case's topic: newest wins
            repeat[0] = {**repeat[0], "topic": "災害ボランティア"}
        rows = [consult_row(rng, c, n % 2 == 0) for c in repeat + current]
        if n == 5:  # two wrong rows in the September export
            rows.insert(
                3,
                [
                    "V2024-9001",
                    "R6.9.31",
                    "電話",
                    "個人",
                    "匿名",
                    "",
                    "",
                    "活動したい",
                    "北区",
                    "20分",
                ],
            )
            rows.insert(
                7,
                ["V2024-9002", "2024/9/12", "FAX", "団体", "", "", "", "団体運営", "中央区", "15"],
            )
        name = f"consultations_{year}-{month:02d}"
        if n % 2 == 0:
            write_xlsx(
                folder / f"{name}.xlsx",
                [("データ", [[f"相談記録 {year}年{month}月分 出力"], [], CONSULT_HEADERS, *rows])],
            )
        else:
            write_csv(
                folder / f"{name}.csv", [CONSULT_HEADERS, *rows], "cp932" if n % 4 == 1 else "utf-8"
            )
        previous = current


# ---------------------------------------------------------------------------------------------
# plan_indicators

PLAN_HEADERS = ["年度", "役割", "指標コード", "指標名", "値", "単位"]


def generate_plan(out: Path) -> None:
    for fy in sorted(PLACES):
        _members, active = FACILITIES[fy]
        reported_facilities = active if fy != 2023 else active + 4  # hand count drifted
        rows = [
            [
                f"令和{reiwa(fy)}年度",
                1,
                "plan_copies",
                "第3期推進計画 発行部数",
                "4,000" if fy == 2024 else "",
                "部",
            ],
            [
                f"令和{reiwa(fy)}年度",
                2,
                "ibasho_places",
                "居場所活動の実施数",
                f"{PLACES[fy]:,}",
                "か所",
            ],
            [
                f"令和{reiwa(fy)}年度",
                2,
                "case_studies",
                "地域支援の事例収集・分析",
                {2022: 71, 2023: 80, 2024: 87}[fy],
                "事例",
            ],
            [
                f"令和{reiwa(fy)}年度",
                3,
                "newsletter_copies",
                "広報誌「大阪の社会福祉」年間発行部数",
                {2022: "336,000", 2023: "336,500", 2024: "337,000"}[fy],
                "部",
            ],
            [
                f"令和{reiwa(fy)}年度",
                4,
                "public_interest_facilities",
                "公益的な取組みの実施施設数",
                reported_facilities,
                "施設",
            ],
            [
                f"令和{reiwa(fy)}年度",
                5,
                "volunteer_consultations",
                "ボランティア・市民活動相談件数",
                CONSULTATIONS.get(fy, 688),
                "件",
            ],
            [
                f"令和{reiwa(fy)}年度",
                5,
                "comvo_copies",
                "ボランティア活動情報誌「COMVO」年間発行部数",
                "240,000",
                "部",
            ],
            [
                f"令和{reiwa(fy)}年度",
                6,
                "disaster_staff_dispatched",
                "被災地への職員派遣人数",
                {2022: 0, 2023: 2, 2024: 19}[fy],
                "人",
            ],
        ]
        rows = [r for r in rows if r[4] != ""]
        if fy == 2024:
            write_xlsx(
                out / "plan_indicators" / "R6_推進計画_実績指標.xlsx",
                [
                    (
                        "データ",
                        [
                            ["第3期 大阪市地域福祉活動推進計画 実績指標（令和6年度）"],
                            [],
                            PLAN_HEADERS,
                            *rows,
                        ],
                    )
                ],
            )
        else:
            write_csv(
                out / "plan_indicators" / f"R{fy - 2018}_推進計画_実績指標.csv",
                [PLAN_HEADERS, *rows],
                "utf-8-sig",
            )


# ---------------------------------------------------------------------------------------------
# ward_action_plans

ACTION_HEADERS = [
    "年度", "区名", "基本目標", "推進項目", "取組テーマ", "目標", "指標", "目標値", "実績値",
    "自己評価", "取組の経過", "課題・次年度に向けて", "共通項目",
]  # fmt: skip
# The third plan's items (sources/reference/plan_items.csv), with the actions a ward may take
# up under each: theme, indicator, unit, typical target (None: no numeric target).
ACTION_ITEMS = [
    ("1-1", "地域づくり", [
        ("地域の居場所・サロンの立ち上げ支援", "新たに立ち上がった居場所の数", "か所", 3),
        ("子ども食堂ネットワークの運営", "ネットワーク会議の開催回数", "回", 6),
        ("多世代交流の場づくり", None, None, None),
    ]),
    ("1-2", "地域づくり", [
        ("見守り活動の担い手との情報交換会", "情報交換会の開催回数", "回", 4),
        ("要援護者の見守りネットワーク強化", "見守り訪問の件数", "件", 120),
    ]),
    ("1-3", "地域づくり", [
        ("ボランティア講座の開催", "講座の受講者数", "人", 40),
        ("若い世代の担い手の発掘", "新たな担い手の登録数", "人", 15),
    ]),
    ("2-1", "相談支援", [
        ("出張相談会の実施", "出張相談会の開催回数", "回", 12),
        ("アウトリーチによる早期発見", "訪問につながった件数", "件", 30),
    ]),
    ("2-2", "相談支援", [
        ("成年後見制度の周知", "説明会の参加者数", "人", 60),
        ("あんしんさぽーと事業との連携", None, None, None),
    ]),
    ("2-3", "相談支援", [
        ("専門職との事例検討会", "事例検討会の開催回数", "回", 6),
        ("地域包括支援センターとの定例会議", "定例会議の開催回数", "回", 12),
    ]),
    ("3-1", "参加支援", [
        ("相談から地域活動への参加支援", "参加支援につながった件数", "件", 10),
    ]),
    ("3-2", "参加支援", [
        ("居場所を通じた社会参加の促進", "居場所で受け入れた人数", "人", 20),
        ("就労体験の場の開拓", "体験受入先の数", "か所", 3),
    ]),
]  # fmt: skip
COMMON_ITEMS = {"3-1", "1-2"}  # every ward takes these up together (共通項目)
RATINGS = ["◎", "○", "△", "×", "−"]
RATING_LETTERS = dict(zip(RATINGS, "ABCDE", strict=True))
MISSING_RESULTS = "271071"  # 港区 has not sent its FY2024 results yet
PLAN_FIRST_YEAR = 2024  # 令和6年度: the third plan's first year


def ward_actions(rng: random.Random, code: str, name: str) -> list[dict]:
    """One ward's actions for the plan: the common items always, one or two actions under
    most other items."""
    actions = []
    for item, goal, choices in ACTION_ITEMS:
        if item in COMMON_ITEMS:
            picked = choices[:1]
        elif rng.random() < 0.15:
            continue
        else:
            picked = rng.sample(choices, k=rng.choice([1, 1, 2]) if len(choices) > 1 else 1)
        for theme, indicator, unit, typical in picked:
            target = None if typical is None else max(1, round(typical * rng.uniform(0.6, 1.6)))
            actions.append(
                {"item": item, "goal": goal, "theme": theme, "indicator": indicator,
                 "unit": unit, "target": target, "common": item in COMMON_ITEMS}
            )  # fmt: skip
    return actions


def action_result(rng: random.Random, action: dict) -> tuple[int | None, str | None]:
    """The year's actual value and the ward's self-rating (blank now and then)."""
    target = action["target"]
    if target is None:
        return None, rng.choice(["○", "○", "△", "◎", None])
    actual = max(0, round(target * rng.choice([1.2, 1.0, 1.0, 0.9, 0.7, 0.5, 0.2])))
    share = actual / target
    rating = "◎" if share >= 1 else "○" if share >= 0.8 else "△" if share >= 0.4 else "×"
    return actual, rating if rng.random() > 0.08 else None


def action_rows(rng, fy, code, name, actions, results: bool, style: int) -> list[list]:
    rows = []
    for a in actions:
        actual, rating = action_result(rng, a) if results else (None, None)
        item = to_fullwidth(a["item"]).replace("-", "－") if style == 1 else a["item"]
        unit = a["unit"] or ""
        target = a["target"] if a["target"] is not None else ""
        if style == 2 and target != "":
            target = f"{target}{unit}"
        if rating and style == 3:
            rating = RATING_LETTERS[rating]
        note = ""
        if results:
            note = f"{a['theme']}を関係団体と協力して進めた。"
            if a["item"] == "1-2" and code == "271276":
                note = "民生委員の山田さん・地域の見守り推進員と毎月情報交換を行った。"
        rows.append([
            fy_label(rng, fy) if style != 2 else "", name, a["goal"], item, a["theme"],
            f"{a['theme']}を進める", a["indicator"] or "", target,
            "" if actual is None else actual, rating or "", note,
            "次年度も継続して取り組む" if results else "", "○" if a["common"] else "",
        ])  # fmt: skip
    return rows


def generate_action_plans(out: Path) -> None:
    """FY2024 (the plan's first year): every ward's results but 港区's, a few wards' spring
    plans before them; FY2025: the plans of some wards. Its own random stream, so the other
    sources' sample files stay byte for byte as they were."""
    rng = random.Random(SEED + 31)
    folder = out / "ward_action_plans"
    for index, (code, name, romaji, _w) in enumerate(WARDS):
        actions = ward_actions(rng, code, name)
        style = index % 4
        fy = PLAN_FIRST_YEAR
        if index % 5 == 0:  # the spring plan, replaced by the results file after the year
            rows = action_rows(rng, fy, code, name, actions, False, style)
            plan_file = folder / f"R{fy - 2018}_{name}_実行計画.csv"
            write_csv(plan_file, [ACTION_HEADERS, *rows], "cp932")
        if code != MISSING_RESULTS:
            rows = action_rows(rng, fy, code, name, actions, True, style)
            if code == "271276":  # one action far beyond its target (a warning, not a hold)
                rows[0][8] = (rows[0][7] if isinstance(rows[0][7], int) else 3) * 12
            if code == "271161":  # an item of no plan in force: quarantined, the rest loads
                rows.insert(2, [*rows[1][:3], "4-1", "地域防災の取組", *rows[1][5:]])
            if code == "271144":  # a goal that is not its item's: quarantined
                rows[-1][2] = "地域づくり" if rows[-1][2] != "地域づくり" else "相談支援"
            write_action_file(folder, fy, code, name, romaji, rows, style, "実績")
        if index % 3 == 0:  # FY2025's plans, sent in the spring
            rows = action_rows(rng, fy + 1, code, name, actions, False, style)
            write_action_file(folder, fy + 1, code, name, romaji, rows, style, "計画")


def write_action_file(folder, fy, code, name, romaji, rows, style, stage) -> None:
    era = f"R{fy - 2018}"
    if style in (0, 3):  # a workbook with a title, the ward and a blank line above the header
        title = [
            [f"令和{reiwa(fy)}年度 {name}社会福祉協議会 実行計画（{stage}）"],
            ["第3期大阪市地域福祉活動推進計画", None, None, "作成日",
             dt.date(fy + (stage == "実績"), 4, 15)],
            [],
        ]  # fmt: skip
        suffix = "_実績" if stage == "実績" else ""
        write_xlsx(
            folder / f"{era}_{name}_実行計画{suffix}.xlsx",
            [("データ", [*title, ACTION_HEADERS, *rows])],
        )
    elif style == 1:  # CP932, full-width item codes, a blank line in the body
        write_csv(
            folder / f"{fy}_{romaji}_action_plan{'_results' if stage == '実績' else ''}.csv",
            [[f"{name} 実行計画 令和{reiwa(fy)}年度"], ACTION_HEADERS, *rows[:3], [], *rows[3:]],
            "cp932",
        )
    else:  # UTF-8 with BOM, targets with their unit, the year from the file name only
        suffix = "_実績" if stage == "実績" else ""
        write_csv(
            folder / f"令和{reiwa(fy)}年度_{name}_実行計画{suffix}.csv",
            [ACTION_HEADERS, *rows],
            "utf-8-sig",
        )


SENT_AT_FILE = "sent_at.csv"
JST = dt.timezone(dt.timedelta(hours=9))


def sent_at(relative: Path) -> dt.datetime:
    """When the sender saved the file. Git does not keep modification times, and the file's
    modification time is what decides which of two files for the same ward and year is newer,
    so `welfare load-sample` sets it from sent_at.csv: surveys on 20 April after their fiscal
    year, corrected files (再提出, 修正版) a month later, monthly consultation exports on the
    first of the next month."""
    name = relative.name
    if month := re.search(r"(\d{4})-(\d{2})", name):
        year, number = int(month[1]), int(month[2])
        return dt.datetime(year + number // 12, number % 12 + 1, 1, 9, 0, tzinfo=JST)
    if reiwa_year := re.search(r"(?:^R|令和)(\d+)", name):
        fiscal_year = 2018 + int(reiwa_year[1])
    else:
        fiscal_year = int(re.search(r"(20\d{2})", name)[1])
    corrected = "再提出" in name or "修正版" in name
    if (
        relative.parts[0] == "ward_action_plans"
        and ("計画" in name or "plan" in name)
        and not ("実績" in name or "results" in name)
    ):  # an action plan is sent in the spring of its own year
        return dt.datetime(fiscal_year, 4, 25, 10, 0, tzinfo=JST)
    return dt.datetime(fiscal_year + 1, 5 if corrected else 4, 20, 10, 0, tzinfo=JST)


def write_sent_times(out: Path) -> None:
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file() and p.parent != out)
    rows = [["path", "sent_at"]] + [[f.as_posix(), sent_at(f).isoformat()] for f in files]
    write_csv(out / SENT_AT_FILE, rows, "utf-8")


def generate(out: Path) -> None:
    rng = random.Random(SEED)
    generate_ibasho(out, rng)
    generate_facilities(out, rng)
    generate_consultations(out, rng)
    generate_plan(out)
    generate_action_plans(out)
    write_sent_times(out)


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "sample")
