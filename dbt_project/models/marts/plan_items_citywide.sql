-- Each plan item across the city (推進項目ごとの全市の状況): which wards took it up in a
-- fiscal year, how many actions, and how the wards rated themselves; every item of the plan in
-- force that year, taken up or not.
with progress as (
    select * from {{ ref('plan_progress') }}
),

years as (
    select distinct fiscal_year from progress
),

items as (
    select
        years.fiscal_year,
        plan_items.plan_code,
        plan_items.goal,
        plan_items.item_code as plan_item,
        plan_items.item_name,
        plan_items.sort_order
    from years
    inner join {{ ref('plan_items') }} as plan_items
        on years.fiscal_year between plan_items.first_fiscal_year and plan_items.last_fiscal_year
),

-- A ward rating an item × or △ on any action under it.
by_item as (
    select
        fiscal_year,
        plan_item,
        count(*) as wards_taking_up,
        {{ sorted_list('ward_name') }} as wards,
        sum(actions) as actions,
        sum(common_actions) as common_actions,
        sum(with_target) as with_target,
        sum(with_result) as with_result,
        sum(target_reached) as target_reached,
        sum(rated_achieved) as rated_achieved,
        sum(rated_mostly) as rated_mostly,
        sum(rated_partly) as rated_partly,
        sum(rated_not) as rated_not,
        sum(not_rated) as not_rated,
        sum(case when rated_partly + rated_not > 0 then 1 else 0 end) as wards_rated_partly_or_not,
        {{ sorted_list("case when rated_partly + rated_not > 0 then ward_name end") }}
            as wards_partly_or_not
    from progress
    group by fiscal_year, plan_item
)

select
    cast(items.fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    items.plan_code,
    items.goal,
    items.plan_item,
    items.item_name,
    cast(items.sort_order as {{ dbt.type_int() }}) as sort_order,
    cast(coalesce(by_item.wards_taking_up, 0) as {{ dbt.type_bigint() }}) as wards_taking_up,
    by_item.wards,
    cast(coalesce(by_item.actions, 0) as {{ dbt.type_bigint() }}) as actions,
    cast(coalesce(by_item.common_actions, 0) as {{ dbt.type_bigint() }}) as common_actions,
    cast(coalesce(by_item.with_target, 0) as {{ dbt.type_bigint() }}) as with_target,
    cast(coalesce(by_item.with_result, 0) as {{ dbt.type_bigint() }}) as with_result,
    cast(coalesce(by_item.target_reached, 0) as {{ dbt.type_bigint() }}) as target_reached,
    cast(
        round(cast(by_item.target_reached as double) / nullif(by_item.with_result, 0), 3)
        as double
    ) as achievement_rate,
    cast(coalesce(by_item.rated_achieved, 0) as {{ dbt.type_bigint() }}) as rated_achieved,
    cast(coalesce(by_item.rated_mostly, 0) as {{ dbt.type_bigint() }}) as rated_mostly,
    cast(coalesce(by_item.rated_partly, 0) as {{ dbt.type_bigint() }}) as rated_partly,
    cast(coalesce(by_item.rated_not, 0) as {{ dbt.type_bigint() }}) as rated_not,
    cast(coalesce(by_item.not_rated, 0) as {{ dbt.type_bigint() }}) as not_rated,
    cast(coalesce(by_item.wards_rated_partly_or_not, 0) as {{ dbt.type_bigint() }})
        as wards_rated_partly_or_not,
    by_item.wards_partly_or_not
from items
left join by_item
    on items.fiscal_year = by_item.fiscal_year and items.plan_item = by_item.plan_item
