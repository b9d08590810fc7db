"""The survey cycle (docs/submissions.md, "The survey calendar"): each expected submission's due
date and timeliness against a day that can be set (WELFARE_TODAY); a day passing is a change;
reminders e-mailed to a real SMTP server on 127.0.0.1, each step once; a file compared with
its submitter's published history (warnings stating both figures, never a hold); a blank
count is not zero."""

from __future__ import annotations

import datetime as dt
import email
import time
from email.policy import default as default_policy

import duckdb
import pytest
import yaml
from aiosmtpd.controller import Controller

from pipelines.defs.runner import run_pipeline
from pipelines.foundation.settings import Settings, WebSettings
from pipelines.ingest.contract import load_contract
from pipelines.intake.ingest import ingest_source
from pipelines.intake.validation import validate_file
from pipelines.warehouse.freshness import reason_to_run
from pipelines.warehouse.history import PublishedHistory
from pipelines.web.accounts import AccountError, AccountStore
from pipelines.web.reminders import send_reminders, step_on
from tests.conftest import free_port, ward_file, welfare_cli, write_csv

# Pipeline runs: beside the main suite in `make test` (with the operator's other tests).
pytestmark = [pytest.mark.slow, pytest.mark.background]

CONSULTATIONS = (
    "select period_start, due_on, status, timeliness, days_late, days_overdue, reminders_sent "
    "from marts.submission_status where source = 'consultations' and period_start = ?"
)
HEADER = "受付番号,受付日,受付方法,相談者区分,相談者氏名,電話番号,メールアドレス,相談内容,居住区,対応時間（分）"


def query(settings: Settings, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as db:
        return db.execute(sql, list(params)).fetchall()


class Inbox:
    """What a real SMTP server on loopback received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


def test_the_calendars_steps_are_the_latest_one_due():
    due = dt.date(2025, 6, 10)
    steps = {day: step_on(due, due + dt.timedelta(days=day)) for day in range(-20, 30)}
    assert steps[-15] is None and steps[-14] == "before-14" and steps[-4] == "before-14"
    assert steps[-3] == "before-3" and steps[0] == "due" and steps[6] == "due"
    assert steps[7] == steps[13] == "overdue-7" and steps[14] == "overdue-14"


def test_due_dates_reminders_and_history_over_a_few_days(published_home, smtp, monkeypatch):
    settings = published_home
    port, inbox = smtp
    (settings.home / "notifications.yml").write_text(
        yaml.safe_dump(
            {
                "email": {"smtp_host": "127.0.0.1", "smtp_port": port, "from": "vc@example.org"},
                "base_url": "https://welfare.example.org",
            }
        ),
        encoding="utf-8",
    )
    store = AccountStore(WebSettings.from_env(settings).accounts_db)
    store.add("vc-staff", "shinsaibashi-desk-2025", "volunteer_centre", email="vc@example.jp")
    store.add("kita", "umeda-clerk-spring-2024", "271276")
    with pytest.raises(AccountError, match="not an address"):
        store.set_email("kita", "kita at example")
    changed = welfare_cli(settings.home, "users", "email", "kita", "kita@example.jp")
    assert changed.returncode == 0, changed.stderr
    assert store.get("kita").email == "kita@example.jp"

    # 10 June 2025: the consultations of April (due 10 May) are overdue, May's are due today.
    monkeypatch.setenv("WELFARE_TODAY", "2025-06-10")
    first = run_pipeline(settings, force=True)
    assert first.success, first.failed_steps
    assert query(settings, CONSULTATIONS, dt.date(2025, 4, 1)) == [
        (dt.date(2025, 4, 1), dt.date(2025, 5, 10), "missing", "overdue", None, 31, 0)
    ]
    may = query(settings, CONSULTATIONS, dt.date(2025, 5, 1))
    assert may[0][2:4] == ("missing", "not_due")
    # The sample's FY2023 consultations came as one export after the year: every month late.
    [(_, _due, status, timeliness, days_late, _, _)] = query(
        settings, CONSULTATIONS, dt.date(2023, 4, 1)
    )
    assert (status, timeliness) == ("received", "late") and days_late > 300
    assert query(
        settings,
        "select due_on, timeliness from marts.submission_status where source = 'ibasho_survey' "
        "and submitter_name = '北区' and fiscal_year in (2024, 2025) order by fiscal_year",
    ) == [(dt.date(2025, 5, 31), "on_time"), (dt.date(2026, 5, 31), "not_due")]
    assert reason_to_run(settings) is None  # nothing new today

    # Reminders: one mail per submission at its latest step; none twice.
    sent = send_reminders(settings)
    assert [(r.source, r.stage, r.period_start, r.step) for r in sent.sent] == [
        ("ward_action_plans", "plan", dt.date(2025, 4, 1), "overdue-35"),  # due 30 April
        ("consultations", None, dt.date(2025, 4, 1), "overdue-28"),
        ("consultations", None, dt.date(2025, 5, 1), "due"),
    ]
    assert [m["To"] for m in inbox.messages] == [
        "kita@example.jp",
        "vc@example.jp",
        "vc@example.jp",
    ]
    plan = inbox.messages[0].get_body().get_content()
    assert "区社協 実行計画（目標・実績・自己評価）（2025年度（令和7年度）・計画）" in plan
    assert "fiscal year 2025 (plan)" in plan
    body = inbox.messages[2].get_body().get_content()
    assert "ボランティア・市民活動相談記録（2025年5月分）のファイルがまだ届いていません" in body
    assert "2025年06月10日" in body and "https://welfare.example.org" in body
    assert "Volunteer and civic-activity consultation log for May 2025 has not arrived" in body
    assert "【提出期限】" in inbox.messages[2]["Subject"]
    assert send_reminders(settings).sent == []
    assert len(inbox.messages) == 3

    # The next day is a change: May's consultations are overdue from today, and the
    # reminders sent show beside the status.
    monkeypatch.setenv("WELFARE_TODAY", "2025-06-11")
    assert reason_to_run(settings) is not None
    # 北区 sends its FY2025 places early, far fewer than last year, one without participants.
    ward_file(
        settings,
        "R7_北区_居場所.csv",
        [
            "R7,北区,曽根崎地域,K-1,サロン1,高齢者サロン,12,240",
            "R7,北区,曽根崎地域,K-2,サロン2,高齢者サロン,12,",
        ],
        time.time(),
    )
    second = run_pipeline(settings)
    assert second.success and second.published, second.failed_steps
    assert query(settings, CONSULTATIONS, dt.date(2025, 5, 1))[0][2:] == (
        "missing", "overdue", None, 1, 1,
    )  # fmt: skip
    assert query(
        settings,
        "select count(*), min(step) from audit.reminders where source = 'consultations'",
    ) == [(2, "due")]
    # The history warning: both figures, in the clerk's terms; the file loads all the same.
    [warned] = [w for w in second.checks_warned if "gx_ibasho_survey" in w]
    assert "R7_北区_居場所.csv: 居場所 前年度 106か所 → 今回 2か所（−98%）" in warned
    assert query(
        settings,
        "select status from audit.submissions where file_name = 'R7_北区_居場所.csv'",
    ) == [("loaded",)]
    assert query(
        settings,
        "select count(*) from audit.dq_results where suite = 'history' "
        "and file_name = 'R7_北区_居場所.csv' and severity = 'warning'",
    ) == [(3,)]
    # A blank count is not zero.
    assert query(
        settings,
        "select sum(places), sum(participants), sum(places_without_participants) "
        "from marts.place_counts where fiscal_year = 2025 and ward_name = '北区'",
    ) == [(2, 240, 1)]
    # The same comparison before sending: `welfare validate` and the page's check.
    checked = write_csv(
        settings.home / "R7_北区_居場所_確認.csv",
        [
            "年度,区名,地域名,活動ID,活動名称,活動種別,年間開催回数,延べ参加者数",
            "R7,北区,曽根崎地域,K-1,サロン1,高齢者サロン,12,240",
        ],
    )
    again = validate_file(checked, "ibasho_survey", previous=PublishedHistory(settings))
    assert not again.check.held
    assert any("前年度 106か所 → 今回 1か所" in w for w in again.check.shown_warnings)

    # The council returns 北区's file: 北区 is told by e-mail too, with the comment.
    returned = welfare_cli(
        settings.home, "review", "R7_北区_居場所.csv", "--return", "--by", "市社協 山田",
        "--comment", "参加者数の空欄を確認してください。",
    )  # fmt: skip
    assert returned.returncode == 0, returned.stderr
    assert "E-mailed the comment to kita@example.jp" in returned.stdout
    told = inbox.messages[-1]
    assert told["To"] == "kita@example.jp" and "差し戻し" in told["Subject"]
    assert "参加者数の空欄を確認してください。" in told.get_body().get_content()

    # A week on: one mail for each month still missing, at its step; nothing for a month whose
    # export has been taken in, even before the next publish.
    monkeypatch.setenv("WELFARE_TODAY", "2025-06-17")
    write_csv(
        settings.landing_for("consultations") / "相談記録_2025-05.csv",
        [HEADER, "V2025-0501,2025-05-07,電話,個人,山田 太郎,06-0000-0000,,活動したい,北区,15"],
        encoding="cp932",
    )
    ingest_source(settings, load_contract("consultations"))
    planned = welfare_cli(settings.home, "remind", "--dry-run", env={"WELFARE_TODAY": "2025-06-17"})
    assert planned.returncode == 0, planned.stderr
    assert "2 would send" in planned.stdout and "overdue-35" in planned.stdout
    assert "overdue-42" in planned.stdout  # 北区's FY2025 plan, due 30 April
    assert len(inbox.messages) == 4  # three reminders and the return; a dry run sends nothing
