-- One row per consultation (受付番号). Exports overlap: the newest export's version wins, newest
-- as int_submissions_current defines it (modification time, then received, then name). A
-- closed year's consultations come only from the exports that made its figures (or one the
-- council released since): an export's rows of a year closed before it came are left out
-- (int_year_locks).
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
    left join {{ ref('int_year_locks') }} as locks
        on
            consultations.sha256 = locks.sha256
            and consultations.fiscal_year = locks.fiscal_year
    where locks.sha256 is null
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
