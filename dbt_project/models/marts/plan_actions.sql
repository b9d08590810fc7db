-- Every action of the wards' current action plans with its free text as sent (themes, targets,
-- the process, next steps): for the council and its committee only. Free text may name people:
-- this model has no `extract` meta, so `welfare extract` refuses it.
with actions as (
    select * from {{ ref('int_action_plans_current') }}
),

files as (
    select
        sha256,
        file_name
    from {{ ref('int_submissions_current') }}
    where is_current
)

select
    cast(actions.fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    actions.plan_code,
    actions.ward_code,
    wards.ward_name,
    actions.goal,
    actions.plan_item,
    actions.item_name,
    actions.theme,
    actions.target_text,
    actions.indicator,
    actions.target_value,
    actions.actual_value,
    actions.target_reached,
    actions.self_rating,
    actions.rating_class,
    actions.process_note,
    actions.next_steps,
    actions.is_common_item,
    files.file_name,
    actions.sha256,
    cast(actions.source_row as {{ dbt.type_int() }}) as source_row
from actions
inner join {{ ref('dim_ward') }} as wards
    on actions.ward_code = wards.ward_code
inner join files
    on actions.sha256 = files.sha256
