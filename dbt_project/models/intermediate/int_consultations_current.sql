-- One row per consultation (受付番号). Exports overlap: the newest export's version wins, newest
-- as int_submissions_current defines it (modification time, then received, then name).
-- Incremental on DuckDB: only the consultations of exports that began or stopped counting
-- since the last build are chosen again (macros/consultations_incremental.sql); a full
-- refresh (`welfare run --full-refresh`) gives the same rows.
{{ config(
    materialized=('incremental' if consultations_incremental() else 'table'),
    incremental_strategy='append',
    pre_hook=[
        "{{ record_changed_consultations() }}",
        "{{ forget_changed_consultations() }}",
    ],
    post_hook="{{ remember_consultation_exports() }}",
) }}

with consultations as (
    select staged.* from {{ ref('stg_consultations') }} as staged
    {%- if is_incremental() %}
        where staged.consultation_id in (
            select changed.consultation_id
            from {{ consultations_state('changed') }} as changed
        )
    {%- endif %}
),

exports as (
    select
        sha256,
        version_order
    from {{ ref('int_submissions_current') }}
    where is_current and source = 'consultations'
),

ranked as (
    select
        consultations.*,
        row_number() over (
            partition by consultations.consultation_id
            order by exports.version_order desc
        ) as version_rank
    from consultations
    inner join exports
        on consultations.sha256 = exports.sha256
)

select
    sha256,
    source_row,
    consultation_id,
    received_on,
    fiscal_year,
    {{ dbt.date_trunc('month', 'received_on') }} as received_month,
    channel,
    requester_type,
    topic,
    residence,
    minutes
from ranked
where version_rank = 1
