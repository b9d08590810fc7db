-- Every period and stage the survey calendar expects a submission for, with its due date
-- (docs/submissions.md, "The survey calendar"), from the first fiscal year the warehouse holds
-- for the source through the current one: a fiscal year for most sources, each month for
-- consultations; one row per stage of a source expected twice a period. Submitters are
-- added by submission_status.
{{ config(meta={'uses_today': true}) }}

with today as (
    select {{ welfare_today() }} as today
),

-- The first fiscal year the warehouse holds for each source.
first_years as (
    select
        source,
        min(fiscal_year) as first_year
    from (
        select
            source,
            fiscal_year
        from {{ ref('int_submissions_current') }}
        where
            status in ('loaded', 'superseded', 'held', 'returned', 'after_closing')
            and fiscal_year is not null
            and source <> 'consultations'
        union all
        select
            'consultations' as source,
            fiscal_year
        from {{ ref('int_consultations_current') }}
    ) as held_years
    group by source
),

years as (
    select
        first_years.source,
        fiscal_years.fiscal_year,
        cast(fiscal_years.starts_on as date) as starts_on,
        cast(fiscal_years.ends_on as date) as ends_on
    from first_years
    cross join today
    inner join {{ ref('fiscal_years') }} as fiscal_years
        on
            first_years.first_year <= fiscal_years.fiscal_year
            and extract(year from {{ dbt.dateadd('month', -3, 'today.today') }})
            >= fiscal_years.fiscal_year
),

months as (
    {%- for n in range(12) %}
        select {{ n }} as n
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

periods as (
    select
        source,
        fiscal_year,
        starts_on as period_start,
        ends_on as period_end
    from years
    where source <> 'consultations'
    union all
    select
        years.source,
        years.fiscal_year,
        cast({{ dbt.dateadd('month', 'months.n', 'years.starts_on') }} as date) as period_start,
        cast(
            {{ dbt.dateadd('day', -1, dbt.dateadd('month', 'months.n + 1', 'years.starts_on')) }}
            as date
        ) as period_end
    from years
    cross join months
    where years.source = 'consultations'
),

calendar as (
    select * from {{ ref('submission_calendar') }}
),

-- Each source's stages: its default rows of the calendar (one, with no stage, for most).
stages as (
    select
        source,
        stage,
        coalesce(stage, '') as stage_key,
        coalesce(after_period_only, false) as after_period_only,
        months_after,
        days_after
    from calendar
    where fiscal_year is null and due_on is null
)

-- The due date: a month's or a year's date the council moved, else the stage's default
-- (months and days after the period ends).
select
    periods.source,
    defaults.stage,
    defaults.stage_key,
    defaults.after_period_only,
    cast(periods.fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    periods.period_start,
    periods.period_end,
    coalesce(
        moved_month.due_on,
        moved_year.due_on,
        cast(
            {{ dbt.dateadd(
                'day', 'defaults.days_after',
                dbt.dateadd('month', 'defaults.months_after', 'periods.period_end')
            ) }} as date
        )
    ) as due_on
from periods
inner join stages as defaults
    on periods.source = defaults.source
left join calendar as moved_year
    on
        periods.source = moved_year.source
        and defaults.stage_key = coalesce(moved_year.stage, '')
        and periods.fiscal_year = moved_year.fiscal_year
        and moved_year.period_start is null
        and moved_year.due_on is not null
left join calendar as moved_month
    on
        periods.source = moved_month.source
        and defaults.stage_key = coalesce(moved_month.stage, '')
        and periods.period_start = moved_month.period_start
        and moved_month.due_on is not null
