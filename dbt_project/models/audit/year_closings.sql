-- Every closing and reopening of a fiscal year, with how many files made the figures closed.
with frozen as (
    select
        closing_id,
        count(*) as files_frozen
    from {{ ref('stg_closed_files') }}
    group by closing_id
)

select
    events.closing_id,
    events.fiscal_year,
    events.action,
    events.acted_at,
    events.acted_by,
    events.reason,
    events.vintage,
    cast(coalesce(frozen.files_frozen, 0) as {{ dbt.type_bigint() }}) as files_frozen
from {{ ref('stg_year_closings') }} as events
left join frozen
    on events.closing_id = frozen.closing_id
