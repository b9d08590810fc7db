-- The one definition of "current" (docs/submissions.md, Resubmission). For each identity (source,
-- fiscal year, submitter) the newest file that counts is current and every older one is
-- superseded. Newer means the file's own modification time, then the time it was received,
-- then its name: never the order in which a batch was read, so the same files give the same
-- marts however they are split into runs. A file counts when it was loaded (or held, then
-- released), unless the council returned it (its latest review) or it came after its fiscal
-- year was closed and was not released (int_year_locks): then the earlier version counts.
-- Consultation exports are never superseded as a whole: each consultation's newest version
-- wins (int_consultations_current, by version_order), and a closed year's months keep the
-- exports that made them.
with ledger as (
    select * from {{ ref('stg_submissions') }}
),

releases as (
    select * from {{ ref('stg_releases') }}
),

latest_reviews as (
    select
        *,
        row_number() over (
            partition by sha256 order by reviewed_at desc, review_id desc
        ) as recency
    from {{ ref('stg_reviews') }}
),

locks as (
    select
        sha256,
        min(fiscal_year) as locked_year
    from {{ ref('int_year_locks') }}
    where gives_figures
    group by sha256
),

entries as (
    select
        ledger.*,
        releases.released_at,
        releases.released_by,
        releases.release_reason,
        latest_reviews.decision as review_decision,
        latest_reviews.reviewed_at,
        latest_reviews.reviewed_by,
        latest_reviews.review_comment,
        locks.sha256 is not null as after_closing,
        coalesce(latest_reviews.decision = 'returned', false) as is_returned,
        -- A consultation export's locked months are left out row by row; other files whole.
        locks.sha256 is not null and ledger.source <> 'consultations' as is_locked,
        (
            ledger.intake_status = 'loaded'
            or (ledger.intake_status = 'held' and releases.sha256 is not null)
        ) as taken_in
    from ledger
    left join releases
        on ledger.sha256 = releases.sha256
    left join latest_reviews
        on
            ledger.sha256 = latest_reviews.sha256
            and latest_reviews.recency = 1
            and ledger.intake_status in ('loaded', 'held')
    left join locks
        on ledger.sha256 = locks.sha256 and ledger.intake_status in ('loaded', 'held')
),

counted as (
    select
        *,
        taken_in and not is_returned and not is_locked as counts
    from entries
),

ranked as (
    select
        *,
        row_number() over (
            partition by source
            order by file_modified_at asc, received_at asc, file_name asc, entry_id asc
        ) as version_order,
        case
            when counts and source <> 'consultations'
                then row_number() over (
                    partition by source, fiscal_year, submitter_code, counts
                    order by
                        file_modified_at desc, received_at desc, file_name desc, entry_id desc
                )
        end as recency_rank
    from counted
)

select
    entry_id,
    sha256,
    source,
    file_name,
    landing_path,
    archive_path,
    received_at,
    file_modified_at,
    version_order,
    case
        when counts and recency_rank > 1 then 'superseded'
        when counts then 'loaded'
        when is_returned then 'returned'
        when intake_status = 'held' and released_at is null then 'held'
        when is_locked then 'after_closing'
        else intake_status
    end as status,
    counts and coalesce(recency_rank, 1) = 1 as is_current,
    duplicate_of,
    submitter_code,
    submitter_name,
    fiscal_year,
    period_start,
    period_end,
    rows_read,
    rows_loaded,
    rows_quarantined,
    rows_skipped,
    rows_rejected,
    case when intake_status = 'held' then reason end as hold_reason,
    case when intake_status = 'rejected' then reason end as reason,
    released_at,
    released_by,
    release_reason,
    review_decision,
    reviewed_at,
    reviewed_by,
    review_comment,
    after_closing,
    warnings,
    file_encoding,
    sheet,
    sent_by,
    sent_at
from ranked
