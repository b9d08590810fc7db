{#- The rows of a staging model that come from current submissions (not superseded,
    not rejected): what each mart must add up to in the reconciliation tests. -#}
{% macro current_rows(staging_model) %}
    select staged_rows.*
    from {{ ref(staging_model) }} as staged_rows
    inner join {{ ref('submissions') }} as ledger
        on staged_rows.submission_id = ledger.sha256
    where ledger.is_current
{% endmacro %}
