{#- The rows of a staging model that come from current files (int_submissions_current: not
    superseded, not rejected, not held unless released): what the int_*_current models keep,
    and what each mart must add up to in the reconciliation tests. -#}
{% macro current_rows(staging_model) %}
    select staged_rows.*
    from {{ ref(staging_model) }} as staged_rows
    inner join {{ ref('int_submissions_current') }} as current_files
        on staged_rows.sha256 = current_files.sha256
    where current_files.is_current
{% endmacro %}
