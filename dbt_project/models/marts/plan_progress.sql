-- How far each ward got with each item of its action plan (実行計画の進捗): one row per fiscal
-- year, ward and plan item the ward took up, from its current file (the spring plan, or the
-- results after the year). The committee's view of one ward.
with actions as (
    select * from {{ ref('int_action_plans_current') }}
)

select
    cast(actions.fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    actions.plan_code,
    actions.ward_code,
    wards.ward_name,
    actions.goal,
    actions.plan_item,
    actions.item_name,
    cast(count(*) as {{ dbt.type_bigint() }}) as actions,
    cast(sum(case when actions.is_common_item then 1 else 0 end) as {{ dbt.type_bigint() }})
        as common_actions,
    cast(sum(case when actions.has_target then 1 else 0 end) as {{ dbt.type_bigint() }})
        as with_target,
    cast(
        sum(case when actions.has_target and actions.has_actual then 1 else 0 end)
        as {{ dbt.type_bigint() }}
    ) as with_result,
    cast(sum(case when actions.target_reached then 1 else 0 end) as {{ dbt.type_bigint() }})
        as target_reached,
    cast(
        round(
            cast(sum(case when actions.target_reached then 1 else 0 end) as double)
            / nullif(sum(case when actions.has_target and actions.has_actual then 1 else 0 end), 0),
            3
        ) as double
    ) as achievement_rate,
    {{ rating_counts('actions.rating_class') }}
from actions
inner join {{ ref('dim_ward') }} as wards
    on actions.ward_code = wards.ward_code
group by
    actions.fiscal_year, actions.plan_code, actions.ward_code, wards.ward_name, actions.goal,
    actions.plan_item, actions.item_name
