{#- Every file's rows are accounted for: read = loaded + quarantined + skipped + rejected. -#}
{% test rows_accounted_for(model) %}

select *
from {{ model }}
where
    coalesce(rows_read, 0)
    <> coalesce(rows_loaded, 0)
    + coalesce(rows_quarantined, 0)
    + coalesce(rows_skipped, 0)
    + coalesce(rows_rejected, 0)

{% endtest %}
