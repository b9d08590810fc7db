-- One row per consultation (受付番号). Exports overlap: the newest export's version wins, newest
-- as int_submissions_current defines it (modification time, then received, then name). A
-- closed year's consultations come only from the exports that made its figures (or one the
-- council released since): a version that an export which came after the closing would add
-- to the year, change in it or take out of it is left out (macros/consultation_versions.sql;
-- audit.consultations_held keeps them).
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
{#- An increment's build is never whole (record_changed_consultations): the changed 受付番号. #}
{%- set chosen = consultations_chosen_again() if is_incremental() else '' %}

with ranked as (
    select
        versions.*,
        row_number() over (
            partition by versions.consultation_id
            order by versions.version_order desc
        ) as version_rank
    from ({{ consultation_versions(chosen) }}) as versions
    where versions.held_because is null
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
