-- The fiscal years closed now: a year's latest event (stg_year_closings) is a closing
-- (docs/submissions.md, Closing a fiscal year), with the year's bounds for consultation exports.
with events as (
    select
        *,
        row_number() over (
            partition by fiscal_year order by acted_at desc, closing_id desc
        ) as recency
    from {{ ref('stg_year_closings') }}
)

select
    events.fiscal_year,
    events.closing_id,
    events.acted_at as closed_at,
    events.acted_by as closed_by,
    events.reason as close_reason,
    events.vintage,
    cast(years.starts_on as date) as starts_on,
    cast(years.ends_on as date) as ends_on
from events
inner join {{ ref('fiscal_years') }} as years
    on events.fiscal_year = years.fiscal_year
where events.recency = 1 and events.action = 'closed'
