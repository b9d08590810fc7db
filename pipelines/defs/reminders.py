"""Reminders as a Dagster job and a daily schedule: the same as `welfare remind`, every day at
09:00 Japan time (after the nightly run has published the day's statuses)."""

import dagster as dg

from pipelines.defs.jobs import REMINDER_JOB
from pipelines.defs.progress import say_to
from pipelines.defs.resources import WelfareSettings
from pipelines.web.reminders import describe, send_reminders


@dg.op(
    description="E-mail each submitter whose expected submission has not come, at the "
    "calendar's steps (14 and 3 days before the due date, on it, every 7 days after); each "
    "step once, recorded in audit.reminders.",
)
def send_due_reminders(context: dg.OpExecutionContext, welfare: WelfareSettings) -> dg.Output[int]:
    result = send_reminders(welfare.get())
    for line in describe(result, dry_run=False):
        say_to(context)(line.strip())
    if result.failed:
        raise dg.Failure(description=f"{len(result.failed)} reminder(s) could not be sent")
    return dg.Output(
        len(result.sent),
        metadata={"sent": len(result.sent), "without_address": len(result.unreachable)},
    )


@dg.job(name=REMINDER_JOB, description="督促メール: reminders of submissions due or overdue.")
def reminder_job() -> None:
    send_due_reminders()


daily_reminders = dg.ScheduleDefinition(
    name="daily_reminders",
    job=reminder_job,
    cron_schedule="0 9 * * *",
    execution_timezone="Asia/Tokyo",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 09:00 Japan time: reminders due today (none twice).",
)
