-- The consultations a closed year holds back (macros/consultation_versions.sql): one row per
-- (export, 受付番号) whose version does not count while the year stays closed, and why.
-- audit.submissions counts them beside each export; a release of the export (when its period
-- touches the year) or a reopening of the year lets them count from the next run.
-- Incremental on DuckDB beside int_consultations_current: the consultations it chose again
-- are looked at again, the others keep their rows.
{{ config(
    materialized=('incremental' if consultations_incremental() else 'table'),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ forget_changed_consultations() }}",
) }}
-- depends_on: {{ ref('int_consultations_current') }}
{%- set chosen = consultations_chosen_as_recorded() if is_incremental() else '' %}

select
    versions.sha256,
    files.file_name,
    versions.source_row,
    versions.consultation_id,
    versions.received_on,
    versions.fiscal_year,
    versions.held_for_year,
    versions.held_because
from ({{ consultation_versions(chosen) }}) as versions
inner join {{ ref('int_submissions_current') }} as files
    on versions.sha256 = files.sha256
where versions.held_because is not null
