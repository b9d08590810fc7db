-- Files that came too late for a closed year: one row per (file, closed fiscal year) where the
-- file was received after the closing (a file received before it either made the figures or
-- had been replaced: it stays as it was), was not among the files that made the year's
-- figures, and has not been released (accepted) by the council for that year since. While a
-- lock stands, the file's rows do not count for that year.
-- gives_figures: the file gives figures for the year (its own year; every year a consultation
-- export's period touches) - the file is "after closing" for it, as
-- pipelines/ingest/closing.py (locked_years) answers for commands. A consultation export also
-- has a row for every other year closed before it came: it may not move a consultation out of
-- that year either (audit.consultations_held).
with files as (
    select
        sha256,
        source,
        fiscal_year,
        period_start,
        period_end,
        min(received_at) as received_at
    from {{ ref('stg_submissions') }}
    where intake_status in ('loaded', 'held')
    group by sha256, source, fiscal_year, period_start, period_end
),

closed as (
    select * from {{ ref('int_closed_years') }}
),

file_years as (
    select
        files.sha256,
        closed.fiscal_year,
        closed.closing_id,
        true as gives_figures
    from files
    inner join closed
        on
            files.source <> 'consultations'
            and files.fiscal_year = closed.fiscal_year
            and files.received_at > closed.closed_since
    union all
    select
        files.sha256,
        closed.fiscal_year,
        closed.closing_id,
        coalesce(
            files.period_start <= closed.ends_on and files.period_end >= closed.starts_on, false
        ) as gives_figures
    from files
    inner join closed
        on
            files.source = 'consultations'
            and files.received_at > closed.closed_since
)

select distinct
    file_years.sha256,
    file_years.fiscal_year,
    file_years.closing_id,
    file_years.gives_figures
from file_years
left join {{ ref('stg_closed_files') }} as frozen
    on
        file_years.closing_id = frozen.closing_id
        and file_years.sha256 = frozen.sha256
left join {{ ref('stg_releases') }} as released
    on file_years.sha256 = released.sha256
where
    frozen.sha256 is null
    -- a release accepts the file for the years it gives figures for; a consultation export
    -- still may not move a consultation out of another closed year
    and (released.sha256 is null or not file_years.gives_figures)
