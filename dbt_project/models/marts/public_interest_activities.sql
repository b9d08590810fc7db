select
    cast(initiatives.fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    initiatives.field,
    categories.label_ja as category,
    cast(count(*) as {{ dbt.type_bigint() }}) as facilities
from {{ ref('int_facility_initiatives_unpivoted') }} as initiatives
inner join {{ ref('dim_initiative_category') }} as categories
    on initiatives.category_code = categories.category_code
group by initiatives.fiscal_year, initiatives.field, categories.label_ja
