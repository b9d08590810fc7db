with source as (
    select * from {{ source('lake', 'ibasho_survey') }}
)

select
    cast(sha256 as {{ dbt.type_string() }}) as sha256,
    cast(source_row as {{ dbt.type_int() }}) as source_row,
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(ward as {{ dbt.type_string() }}) as ward_code,
    cast(district as {{ dbt.type_string() }}) as district,
    cast(district_key as {{ dbt.type_string() }}) as district_key,
    cast(activity_id as {{ dbt.type_string() }}) as activity_id,
    cast(activity_name as {{ dbt.type_string() }}) as activity_name,
    cast(activity_name_key as {{ dbt.type_string() }}) as activity_name_key,
    cast(activity_type as {{ dbt.type_string() }}) as activity_type,
    cast(target_group as {{ dbt.type_string() }}) as target_group,
    cast(operator as {{ dbt.type_string() }}) as operator,
    cast(frequency as {{ dbt.type_string() }}) as frequency,
    cast(sessions_per_year as {{ dbt.type_int() }}) as sessions_per_year,
    cast(participants as {{ dbt.type_int() }}) as participants,
    cast(volunteers as {{ dbt.type_int() }}) as volunteers,
    cast(start_year as {{ dbt.type_int() }}) as start_year,
    cast(note as {{ dbt.type_string() }}) as note
from source
