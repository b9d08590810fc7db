-- The common items (共通項目: the items every ward takes up together) side by side for all 24
-- wards: one row per fiscal year, common item and ward, a ward that has not reported it
-- included (reported = false). An item is common in a year when at least half the wards that
-- sent a plan that year mark it so (one ward's mark does not make an item common for all);
-- a ward's row counts all its actions under the item.
with actions as (
    select * from {{ ref('int_action_plans_current') }}
),

reporting_wards as (
    select
        fiscal_year,
        count(distinct ward_code) as wards
    from actions
    group by fiscal_year
),

marked as (
    select
        fiscal_year,
        plan_code,
        goal,
        plan_item,
        item_name,
        count(distinct ward_code) as wards_marking
    from actions
    where is_common_item
    group by fiscal_year, plan_code, goal, plan_item, item_name
),

common as (
    select marked.*
    from marked
    inner join reporting_wards
        on marked.fiscal_year = reporting_wards.fiscal_year
    where marked.wards_marking * 2 >= reporting_wards.wards
),

by_ward as (
    select
        fiscal_year,
        plan_item,
        ward_code,
        count(*) as actions,
        sum(target_value) as target_value,
        sum(actual_value) as actual_value,
        sum(case when target_reached then 1 else 0 end) as target_reached,
        min(case rating_class
            when 'not' then 1 when 'partly' then 2 when 'mostly' then 3 when 'achieved' then 4
        end) as lowest_rating_rank,
        {{ rating_counts() }}
    from actions
    group by fiscal_year, plan_item, ward_code
)

select
    cast(common.fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    common.plan_code,
    common.goal,
    common.plan_item,
    common.item_name,
    wards.ward_code,
    wards.ward_name,
    by_ward.ward_code is not null as reported,
    cast(coalesce(by_ward.actions, 0) as {{ dbt.type_bigint() }}) as actions,
    cast(by_ward.target_value as double) as target_value,
    cast(by_ward.actual_value as double) as actual_value,
    cast(coalesce(by_ward.target_reached, 0) as {{ dbt.type_bigint() }}) as target_reached,
    case by_ward.lowest_rating_rank
        when 1 then '×' when 2 then '△' when 3 then '○' when 4 then '◎'
    end as lowest_rating,
    cast(coalesce(by_ward.rated_achieved, 0) as {{ dbt.type_bigint() }}) as rated_achieved,
    cast(coalesce(by_ward.rated_mostly, 0) as {{ dbt.type_bigint() }}) as rated_mostly,
    cast(coalesce(by_ward.rated_partly, 0) as {{ dbt.type_bigint() }}) as rated_partly,
    cast(coalesce(by_ward.rated_not, 0) as {{ dbt.type_bigint() }}) as rated_not,
    cast(coalesce(by_ward.not_rated, 0) as {{ dbt.type_bigint() }}) as not_rated
from common
cross join {{ ref('dim_ward') }} as wards
left join by_ward
    on
        common.fiscal_year = by_ward.fiscal_year
        and common.plan_item = by_ward.plan_item
        and wards.ward_code = by_ward.ward_code
