with places as (
    select * from {{ ref('int_places_current') }}
),

wards as (
    select * from {{ ref('dim_ward') }}
)

select
    cast(places.fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    places.ward_code,
    wards.ward_name,
    places.activity_type,
    cast(count(*) as {{ dbt.type_bigint() }}) as places,
    cast(sum(places.sessions_per_year) as {{ dbt.type_bigint() }}) as sessions,
    cast(sum(places.participants) as {{ dbt.type_bigint() }}) as participants,
    cast(sum(places.volunteers) as {{ dbt.type_bigint() }}) as volunteers,
    -- A blank count is "not reported", never zero: how many places left each one blank.
    {%- for column, name in [('sessions_per_year', 'sessions'), ('participants', 'participants'),
                             ('volunteers', 'volunteers')] %}
    cast(
        sum(case when places.{{ column }} is null then 1 else 0 end) as {{ dbt.type_bigint() }}
    ) as places_without_{{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
from places
inner join wards
    on places.ward_code = wards.ward_code
group by places.fiscal_year, places.ward_code, wards.ward_name, places.activity_type
