with source as (
    select * from {{ source('lake', 'facility_initiatives') }}
)

select
    cast(sha256 as {{ dbt.type_string() }}) as sha256,
    cast(source_row as {{ dbt.type_int() }}) as source_row,
    cast(fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(facility_id as {{ dbt.type_string() }}) as facility_id,
    cast(facility_name as {{ dbt.type_string() }}) as facility_name,
    cast(corporation as {{ dbt.type_string() }}) as corporation,
    cast(field as {{ dbt.type_string() }}) as field,
    cast(ward as {{ dbt.type_string() }}) as ward_code,
    {%- for category in var('initiative_categories') %}
    cast({{ category.column }} as {{ dbt.type_boolean() }}) as {{ category.column }}{{ "," if not loop.last }}
    {%- endfor %}
from source
