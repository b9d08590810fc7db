-- The actions of each ward's current action-plan file per fiscal year (the spring plan until
-- the same file with results replaces it), with the plan item they belong to (the plan in
-- force that year), whether a numeric target was reached and the self-rating's class.
with actions as (
    {{ current_rows('stg_ward_action_plans') }}
),

items as (
    select * from {{ ref('plan_items') }}
)

select
    actions.*,
    items.plan_code,
    items.plan_name,
    items.item_name,
    items.sort_order as item_sort_order,
    actions.target_value is not null as has_target,
    actions.actual_value is not null as has_actual,
    case
        when actions.target_value is not null and actions.actual_value is not null
            then actions.actual_value >= actions.target_value
    end as target_reached,
    case
        when actions.self_rating = '◎' then 'achieved'
        when actions.self_rating = '○' then 'mostly'
        when actions.self_rating = '△' then 'partly'
        when actions.self_rating = '×' then 'not'
        else 'not_rated'
    end as rating_class
from actions
left join items
    on
        actions.plan_item = items.item_code
        and actions.fiscal_year between items.first_fiscal_year and items.last_fiscal_year
