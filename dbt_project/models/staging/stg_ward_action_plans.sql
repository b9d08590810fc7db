with source as (
    select * from {{ source('lake', 'ward_action_plans') }}
)

select
    cast(sha256 as {{ dbt.type_string() }}) as sha256,
    cast(source_row as {{ dbt.type_int() }}) as source_row,
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(ward as {{ dbt.type_string() }}) as ward_code,
    cast(goal as {{ dbt.type_string() }}) as goal,
    cast(plan_item as {{ dbt.type_string() }}) as plan_item,
    cast(theme as {{ dbt.type_string() }}) as theme,
    cast(theme_key as {{ dbt.type_string() }}) as theme_key,
    cast(target_text as {{ dbt.type_string() }}) as target_text,
    cast(indicator as {{ dbt.type_string() }}) as indicator,
    cast(target_value as double) as target_value,
    cast(actual_value as double) as actual_value,
    cast(self_rating as {{ dbt.type_string() }}) as self_rating,
    cast(process_note as {{ dbt.type_string() }}) as process_note,
    cast(next_steps as {{ dbt.type_string() }}) as next_steps,
    cast(coalesce(common_item, false) as boolean) as is_common_item
from source
