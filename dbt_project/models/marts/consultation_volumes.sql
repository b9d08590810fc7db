with consultations as (
    select * from {{ ref('int_consultations_current') }}
),

wards as (
    select * from {{ ref('dim_ward') }}
)

select
    cast(consultations.fiscal_year as {{ dbt.type_int() }}) as fiscal_year,
    cast(consultations.received_month as date) as month,
    consultations.channel,
    consultations.requester_type,
    consultations.topic,
    wards.ward_code as residence_ward_code,
    coalesce(wards.ward_name, consultations.residence, '不明') as residence,
    cast(count(*) as {{ dbt.type_bigint() }}) as consultations
from consultations
left join wards
    on consultations.residence = wards.ward_code
group by
    consultations.fiscal_year,
    consultations.received_month,
    consultations.channel,
    consultations.requester_type,
    consultations.topic,
    wards.ward_code,
    coalesce(wards.ward_name, consultations.residence, '不明')
