-- Every expected submission and what became of it (docs/submissions.md, "The survey calendar"):
-- one row per source, submitter, period — a fiscal year (every ward for a ward's survey, one
-- file a year for the others) or, for consultations, a month — and stage (a source the calendar
-- expects twice a period: the wards' action plans in spring, their results after the year,
-- when only a file sent after the period ended counts) from the first fiscal year
-- the warehouse holds for the source through the current one. Status: held (its newest file
-- is held back by a check; an earlier version, if any, is what the marts show), returned (the
-- council sent its newest file back; the same), received, rejected (only rejected files so
-- far) or missing. Its due date (seed submission_calendar), when it was first sent and so its
-- timeliness against today (WELFARE_TODAY), the council's review of the file that counts,
-- whether the year is closed, a file that came after the closing, and the reminders sent.
{{ config(meta={'uses_today': true}) }}

-- The wards send every source that has no fixed submitter.
with submitters as (
    select
        ward_sources.source,
        wards.ward_code as submitter_code,
        wards.ward_name as submitter_name
    from (
        select distinct source from {{ ref('int_submission_periods') }}
        where source not in (select fixed.source from {{ ref('fixed_submitters') }} as fixed)
    ) as ward_sources
    cross join {{ ref('dim_ward') }} as wards
    union all
    select
        source,
        submitter_code,
        submitter_name
    from {{ ref('fixed_submitters') }}
),

expected as (
    select
        periods.*,
        submitters.submitter_code,
        submitters.submitter_name
    from {{ ref('int_submission_periods') }} as periods
    inner join submitters
        on periods.source = submitters.source
),

today as (
    select {{ welfare_today() }} as today
),

answers as (
    select * from {{ ref('int_submission_answers') }}
),

latest as (
    select
        *,
        row_number() over (
            partition by covered_start, source, submitter_code, stage_key
            order by
                case when is_current then 0 when status = 'rejected' then 1 else 2 end,
                received_at desc
        ) as pick
    from answers
    where is_current or status = 'rejected'
),

waiting as (
    select
        *,
        row_number() over (
            partition by covered_start, source, submitter_code, stage_key, status
            order by version_order desc
        ) as pick
    from answers
    where status in ('held', 'returned', 'after_closing')
),

held as (
    select * from waiting
    where status = 'held'
),

returned as (
    select * from waiting
    where status = 'returned'
),

late as (
    select * from waiting
    where status = 'after_closing'
),

-- When the submission was first sent (int_submission_answers.sent_by_then).
first_sent as (
    select
        covered_start,
        source,
        submitter_code,
        stage_key,
        min(sent_by_then) as sent_at
    from answers
    where status in ('loaded', 'superseded', 'held', 'returned', 'after_closing')
    group by covered_start, source, submitter_code, stage_key
),

closed_years as (
    select * from {{ ref('int_closed_years') }}
),

consultation_rows as (
    select
        received_month,
        count(*) as consultations
    from {{ ref('int_consultations_current') }}
    group by received_month
),

reminders as (
    select
        source,
        submitter_code,
        period_start,
        due_on,
        count(*) as reminders_sent,
        max(sent_at) as last_reminded_at
    from {{ ref('stg_reminders') }}
    group by source, submitter_code, period_start, due_on
),

joined as (
    select
        expected.*,
        today.today,
        held.sha256 as held_sha256,
        held.file_name as held_file,
        held.received_at as held_received_at,
        held.hold_reason,
        returned.sha256 as returned_sha256,
        returned.file_name as returned_file,
        returned.received_at as returned_received_at,
        returned.review_comment as returned_comment,
        returned.reviewed_by as returned_by,
        returned.reviewed_at as returned_at,
        latest.is_current,
        latest.status as latest_status,
        latest.file_name as latest_file_name,
        latest.received_at as latest_received_at,
        latest.review_decision,
        latest.review_comment,
        latest.reviewed_by,
        latest.reviewed_at,
        latest.rows_loaded,
        latest.rows_quarantined,
        late.file_name as after_closing_file,
        closed_years.fiscal_year is not null as year_closed,
        first_sent.sent_at,
        {{ tokyo_date('first_sent.sent_at') }} as sent_on,
        consultation_rows.consultations,
        reminders.reminders_sent,
        reminders.last_reminded_at
    from expected
    cross join today
    left join latest
        on
            {{ the_expected_submission('expected', 'latest') }}
            and latest.pick = 1
    left join held
        on
            {{ the_expected_submission('expected', 'held') }}
            and held.pick = 1
            and (
                latest.is_current is null
                or not latest.is_current
                or latest.version_order < held.version_order
            )
    left join returned
        on
            {{ the_expected_submission('expected', 'returned') }}
            and returned.pick = 1
            and (
                latest.is_current is null
                or not latest.is_current
                or latest.version_order < returned.version_order
            )
    left join late
        on
            {{ the_expected_submission('expected', 'late') }}
            and late.pick = 1
    left join closed_years
        on expected.fiscal_year = closed_years.fiscal_year
    left join first_sent
        on
            {{ the_expected_submission('expected', 'first_sent') }}
    left join consultation_rows
        on
            expected.source = 'consultations'
            and expected.period_start = consultation_rows.received_month
            and latest.is_current
    left join reminders
        on
            expected.source = reminders.source
            and expected.submitter_code = reminders.submitter_code
            and expected.period_start = reminders.period_start
            and expected.due_on = reminders.due_on
)

select
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    source,
    stage,
    submitter_code,
    submitter_name,
    period_start,
    period_end,
    case
        when held_sha256 is not null then 'held'
        when returned_sha256 is not null then 'returned'
        when is_current then 'received'
        when latest_status = 'rejected' then 'rejected'
        else 'missing'
    end as status,
    coalesce(held_file, returned_file, latest_file_name) as latest_file,
    coalesce(held_received_at, returned_received_at, latest_received_at) as received_at,
    sent_at,
    due_on,
    case
        when sent_on is not null and sent_on <= due_on then 'on_time'
        when sent_on is not null then 'late'
        when today > due_on then 'overdue'
        else 'not_due'
    end as timeliness,
    cast(
        case
            when sent_on > due_on then {{ dbt.datediff('due_on', 'sent_on', 'day') }}
        end as {{ dbt.type_int() }}
    ) as days_late,
    cast(
        case
            when sent_on is null and today > due_on
                then {{ dbt.datediff('due_on', 'today', 'day') }}
        end as {{ dbt.type_int() }}
    ) as days_overdue,
    hold_reason,
    case
        when returned_sha256 is not null then 'returned'
        when is_current and review_decision = 'approved' then 'approved'
        when is_current then 'not_reviewed'
    end as review_state,
    coalesce(returned_comment, case when is_current then review_comment end) as review_comment,
    coalesce(returned_by, case when is_current then reviewed_by end) as reviewed_by,
    coalesce(returned_at, case when is_current then reviewed_at end) as reviewed_at,
    year_closed,
    after_closing_file,
    cast(
        case when source = 'consultations' then consultations else rows_loaded end
        as {{ dbt.type_bigint() }}
    ) as rows_loaded,
    cast(rows_quarantined as {{ dbt.type_bigint() }}) as rows_quarantined,
    cast(coalesce(reminders_sent, 0) as {{ dbt.type_bigint() }}) as reminders_sent,
    last_reminded_at
from joined
