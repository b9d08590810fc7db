-- Incremental on DuckDB beside int_consultations_current: the months of the consultations it
-- chose again (in any of their versions) are counted again, the other months keep their rows
-- (macros/consultations_incremental.sql); every month on a whole build. Ward names come from
-- reference data, whose change makes a whole build.
{{ config(
    materialized=('incremental' if consultations_incremental() else 'table'),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ forget_changed_months() }}",
) }}
-- depends_on: {{ ref('stg_consultations') }}
{%- set touched = consultations_touched(
    'cast(consultations.received_month as date)', consultation_month()
) if is_incremental() else '' %}

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
{%- if touched %}
where {{ touched }}
{%- endif %}
group by
    consultations.fiscal_year,
    consultations.received_month,
    consultations.channel,
    consultations.requester_type,
    consultations.topic,
    wards.ward_code,
    coalesce(wards.ward_name, consultations.residence, '不明')
