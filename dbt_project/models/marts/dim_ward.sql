select
    cast(ward_code as {{ dbt.type_string() }}) as ward_code,
    cast(ward_code5 as {{ dbt.type_string() }}) as ward_code5,
    cast(ward_name as {{ dbt.type_string() }}) as ward_name,
    cast(ward_name_short as {{ dbt.type_string() }}) as ward_name_short,
    cast(ward_name_en as {{ dbt.type_string() }}) as ward_name_en
from {{ ref('wards') }}
