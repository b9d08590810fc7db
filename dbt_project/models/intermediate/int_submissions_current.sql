-- Every ledger entry with its final status. A loaded file is "superseded" when a later loaded
-- file has the same identity (source, fiscal year, submitter). Consultation exports are never
-- superseded as a whole: they are deduplicated per consultation in int_consultations_current.
with ledger as (
    select * from {{ ref('stg_submissions') }}
),

ranked as (
    select
        *,
        case
            when intake_status = 'loaded' and source <> 'consultations'
                then row_number() over (
                    partition by source, fiscal_year, submitter_code, intake_status
                    order by received_at desc, file_name desc
                )
        end as recency_rank
    from ledger
)

select
    entry_id,
    submission_id,
    source,
    file_name,
    landing_path,
    archive_path,
    received_at,
    file_modified_at,
    case
        when intake_status = 'loaded' and recency_rank > 1 then 'superseded'
        else intake_status
    end as status,
    intake_status = 'loaded' and coalesce(recency_rank, 1) = 1 as is_current,
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
    reason,
    warnings,
    file_encoding,
    sheet
from ranked
