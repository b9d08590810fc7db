{#- A file's row (its covered period, source, submitter and stage) joined to the expected
    submission it answers (marts.submission_status). -#}
{% macro the_expected_submission(expected, file) -%}
    {{ expected }}.period_start = {{ file }}.covered_start
    and {{ expected }}.source = {{ file }}.source
    and {{ expected }}.submitter_code = {{ file }}.submitter_code
    and {{ expected }}.stage_key = {{ file }}.stage_key
{%- endmacro %}
