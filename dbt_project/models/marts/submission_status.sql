-- Who has sent what for each fiscal year, and whom to chase: every expected submitter appears,
-- with status held (its newest file is held back by a check; an earlier version, if any, is
-- what the marts show), returned (the council sent its newest file back; the same), received,
-- rejected (only rejected files so far) or missing; the council's review of the file that
-- counts, whether the year is closed, and a file that came after the closing.
with entries as (
    select * from {{ ref('int_submissions_current') }}
),

fiscal_years as (
    select distinct fiscal_year
    from entries
    where fiscal_year is not null
    union
    select distinct fiscal_year
    from {{ ref('int_consultations_current') }}
),

submitters as (
    select
        'ibasho_survey' as source,
        ward_code as submitter_code,
        ward_name as submitter_name
    from {{ ref('dim_ward') }}
    union all
    select
        source,
        submitter_code,
        submitter_name
    from {{ ref('fixed_submitters') }}
),

expected as (
    select
        fiscal_years.fiscal_year,
        submitters.source,
        submitters.submitter_code,
        submitters.submitter_name
    from fiscal_years
    cross join submitters
),

-- A consultation export counts for every fiscal year its period touches.
entry_years as (
    select
entries.*,
entries.fiscal_year as covered_year
    from entries
    where entries.source <> 'consultations'
    union all
    select
entries.*,
fiscal_years.fiscal_year as covered_year
    from entries
    inner join {{ ref('dim_fiscal_year') }} as fiscal_years
        on
            entries.period_start <= fiscal_years.ends_on
            and entries.period_end >= fiscal_years.starts_on
    where entries.source = 'consultations'
),

latest as (
    select
        *,
        row_number() over (
            partition by covered_year, source, submitter_code
            order by
                case when is_current then 0 when status = 'rejected' then 1 else 2 end,
                received_at desc
        ) as pick
    from entry_years
    where is_current or status = 'rejected'
),

waiting as (
    select
        *,
        row_number() over (
            partition by covered_year, source, submitter_code, status
            order by version_order desc
        ) as pick
    from entry_years
    where status in ('held', 'returned', 'after_closing')
),

held as (
    select * from waiting where status = 'held'
),

returned as (
    select * from waiting where status = 'returned'
),

late as (
    select * from waiting where status = 'after_closing'
),

closed_years as (
    select * from {{ ref('int_closed_years') }}
),

consultation_rows as (
    select
fiscal_year,
count(*) as consultations
    from {{ ref('int_consultations_current') }}
    group by fiscal_year
)

select
    cast(expected.fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    expected.source,
    expected.submitter_code,
    expected.submitter_name,
    case
        when held.sha256 is not null then 'held'
        when returned.sha256 is not null then 'returned'
        when latest.is_current then 'received'
        when latest.status = 'rejected' then 'rejected'
        else 'missing'
    end as status,
    coalesce(held.file_name, returned.file_name, latest.file_name) as latest_file,
    coalesce(held.received_at, returned.received_at, latest.received_at) as received_at,
    held.hold_reason,
    case
        when returned.sha256 is not null then 'returned'
        when latest.is_current and latest.review_decision = 'approved' then 'approved'
        when latest.is_current then 'not_reviewed'
    end as review_state,
    coalesce(returned.review_comment, case when latest.is_current then latest.review_comment end)
        as review_comment,
    coalesce(returned.reviewed_by, case when latest.is_current then latest.reviewed_by end)
        as reviewed_by,
    coalesce(returned.reviewed_at, case when latest.is_current then latest.reviewed_at end)
        as reviewed_at,
    closed_years.fiscal_year is not null as year_closed,
    late.file_name as after_closing_file,
    cast(
        case
            when expected.source = 'consultations' then consultation_rows.consultations
            else latest.rows_loaded
        end as {{ dbt.type_bigint() }}
    ) as rows_loaded,
    cast(latest.rows_quarantined as {{ dbt.type_bigint() }}) as rows_quarantined
from expected
left join latest
    on
        expected.fiscal_year = latest.covered_year
        and expected.source = latest.source
        and expected.submitter_code = latest.submitter_code
        and latest.pick = 1
left join held
    on
        expected.fiscal_year = held.covered_year
        and expected.source = held.source
        and expected.submitter_code = held.submitter_code
        and held.pick = 1
        and (
            latest.is_current is null
            or not latest.is_current
            or latest.version_order < held.version_order
        )
left join returned
    on
        expected.fiscal_year = returned.covered_year
        and expected.source = returned.source
        and expected.submitter_code = returned.submitter_code
        and returned.pick = 1
        and (
            latest.is_current is null
            or not latest.is_current
            or latest.version_order < returned.version_order
        )
left join late
    on
        expected.fiscal_year = late.covered_year
        and expected.source = late.source
        and expected.submitter_code = late.submitter_code
        and late.pick = 1
left join closed_years
    on expected.fiscal_year = closed_years.fiscal_year
left join consultation_rows
    on
        expected.source = 'consultations'
        and expected.fiscal_year = consultation_rows.fiscal_year
        and latest.is_current
