-- Every reminder e-mailed to a submitter (welfare remind, the daily schedule): which
-- submission, which step of the calendar, when, to whom.
select
    reminder_id,
    source,
    submitter_code,
    fiscal_year,
    period_start,
    period_end,
    due_on,
    step,
    sent_at,
    sent_to
from {{ ref('stg_reminders') }}
