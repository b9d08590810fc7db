-- Each file with every expected period and stage it answers (int_submission_periods): the
-- fiscal year it gives figures for, or every month a consultation export's period touches;
-- every stage of the source, but a stage that counts only files sent after the period ended
-- (the results) takes only those, and none a file whose rows do not answer it (an action
-- plan without results: int_files_not_answering_stage). Every file but a duplicate (the
-- same content as a file received before); submission_status picks, for each expected
-- submission, the file that counts.
with entries as (
    select
        *,
        -- When the file was sent: the page's sending time, else the file's own modification
        -- time, never later than when the warehouse first saw it.
        least(coalesce(sent_at, file_modified_at), received_at) as sent_by_then
    from {{ ref('int_submissions_current') }}
),

periods as (
    select * from {{ ref('int_submission_periods') }}
),

-- Two branches, not one join with `or`: the engines join a fiscal year on equality, a
-- consultation export's period on its overlap with the month.
covered as (
    select
        entries.*,
        periods.period_start as covered_start,
        periods.period_end as covered_end,
        periods.stage_key,
        periods.after_period_only
    from entries
    inner join periods
        on
            entries.source = periods.source
            and entries.fiscal_year = periods.fiscal_year
    where entries.source <> 'consultations'
    union all
    select
        entries.*,
        periods.period_start as covered_start,
        periods.period_end as covered_end,
        periods.stage_key,
        periods.after_period_only
    from entries
    inner join periods
        on
            entries.source = periods.source
            and entries.period_start <= periods.period_end
            and entries.period_end >= periods.period_start
    where entries.source = 'consultations'
)

select
    covered.source,
    covered.covered_start,
    covered.stage_key,
    covered.submitter_code,
    covered.sha256,
    covered.file_name,
    covered.status,
    covered.is_current,
    covered.version_order,
    covered.received_at,
    covered.sent_by_then,
    covered.hold_reason,
    covered.review_decision,
    covered.review_comment,
    covered.reviewed_by,
    covered.reviewed_at,
    covered.rows_loaded,
    covered.rows_quarantined
from covered
left join {{ ref('int_files_not_answering_stage') }} as unanswered
    on covered.sha256 = unanswered.sha256 and covered.stage_key = unanswered.stage
where
    covered.status <> 'duplicate'
    and unanswered.sha256 is null
    and (
        not covered.after_period_only
        or {{ tokyo_date('covered.sent_by_then') }} > covered.covered_end
    )
