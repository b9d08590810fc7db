-- The one definition of "current" (docs/submissions.md, Resubmission). For each identity (source,
-- fiscal year, submitter) the newest file that counts is current and every older one is
-- superseded. Newer means the file's own modification time, then the time it was received,
-- then its name: never the order in which a batch was read, so the same files give the same
-- marts however they are split into runs. A held file counts only once it is released.
-- Consultation exports are never superseded as a whole: each consultation's newest version
-- wins (int_consultations_current, by version_order).
with ledger as (
    select * from {{ ref('stg_submissions') }}
),

releases as (
    select * from {{ ref('stg_releases') }}
),

entries as (
    select
        ledger.*,
        releases.released_at,
        releases.released_by,
        releases.release_reason,
        (
            ledger.intake_status = 'loaded'
            or (ledger.intake_status = 'held' and releases.sha256 is not null)
        ) as counts
    from ledger
    left join releases
        on
            ledger.sha256 = releases.sha256
            and ledger.intake_status = 'held'
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
    from entries
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
    warnings,
    file_encoding,
    sheet,
    sent_by,
    sent_at
from ranked
