-- The fiscal years closed now: a year's latest event (stg_year_closings) is a closing
-- (docs/submissions.md, Closing a fiscal year), with the year's bounds for consultation exports.
-- closed_since: the first closing since the year was last reopened. A release closes the year
-- again on amended figures; a file received between the two closings still came too late
-- (int_year_locks). pipelines/ingest/closing.py (closed_years) answers the same for commands.
with events as (
    select
        *,
        row_number() over (
            partition by fiscal_year order by acted_at desc, closing_id desc
        ) as recency,
        max(case when action = 'reopened' then acted_at end) over (
            partition by fiscal_year
        ) as last_reopened_at
    from {{ ref('stg_year_closings') }}
),

closed_since as (
    select
        fiscal_year,
        min(acted_at) as closed_since
    from events
    where action = 'closed' and (last_reopened_at is null or acted_at > last_reopened_at)
    group by fiscal_year
)

select
    events.fiscal_year,
    events.closing_id,
    events.acted_at as closed_at,
    since.closed_since,
    events.acted_by as closed_by,
    events.reason as close_reason,
    events.vintage,
    cast(years.starts_on as date) as starts_on,
    cast(years.ends_on as date) as ends_on
from events
inner join closed_since as since
    on events.fiscal_year = since.fiscal_year
inner join {{ ref('fiscal_years') }} as years
    on events.fiscal_year = years.fiscal_year
where events.recency = 1 and events.action = 'closed'
