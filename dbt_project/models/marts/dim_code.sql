select
    cast(list_name as {{ dbt.type_string() }}) as list_name,
    cast(code as {{ dbt.type_string() }}) as code,
    cast(label_ja as {{ dbt.type_string() }}) as label_ja,
    cast(label_en as {{ dbt.type_string() }}) as label_en,
    cast(sort_order as {{ dbt.type_int() }}) as sort_order
from {{ ref('code_lists') }}
