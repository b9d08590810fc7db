{#-
    int_consultations_current is built incrementally on DuckDB (issue 14: a new monthly export
    must not cost a rebuild of every consultation ever received). Each build remembers which
    exports counted (int_consultations_current__exports, written after the model); the next
    build recomputes only the 受付番号 found in exports that began or stopped counting since:
    for those the newest version is chosen again among all counting exports, exactly as a full
    build chooses it, and every other consultation keeps its row (its exports did not change,
    and the order between two exports never changes). Without that memory every consultation
    counts as changed. Spark builds the model whole every run.
-#}

{% macro consultations_incremental() %}
    {{ return(target.type == 'duckdb') }}
{% endmacro %}

{% macro consultation_exports_memory() %}
    {{ return(api.Relation.create(
        database=this.database, schema=this.schema, identifier=this.identifier ~ '__exports'
    )) }}
{% endmacro %}

{#- The exports whose consultations count now (current consultation submissions). -#}
{% macro counting_consultation_exports() %}
    select submission_id
    from {{ ref('int_submissions_current') }}
    where is_current and source = 'consultations'
{% endmacro %}

{#- The 受付番号 to recompute: those in exports that began or stopped counting. -#}
{% macro changed_consultation_ids() %}
    {%- set memory = consultation_exports_memory() -%}
    {%- set remembered = adapter.get_relation(
        database=memory.database, schema=memory.schema, identifier=memory.identifier
    ) -%}
    select distinct consultation_id
    from {{ ref('stg_consultations') }}
    {%- if remembered is not none %}
        where submission_id in (
            (
                {{ counting_consultation_exports() }}
                except
                select submission_id from {{ remembered }}
            )
            union all
            (
                select submission_id from {{ remembered }}
                except
                {{ counting_consultation_exports() }}
            )
        )
    {%- endif %}
{% endmacro %}

{#- pre-hook: the changed consultations leave the table; the model adds their newest
    versions back (append). -#}
{% macro forget_changed_consultations() %}
    {%- if is_incremental() %}
        delete from {{ this }} where consultation_id in ({{ changed_consultation_ids() }})
    {%- endif %}
{% endmacro %}

{#- post-hook: remember which exports this build counted. -#}
{% macro remember_consultation_exports() %}
    {%- if consultations_incremental() %}
        create or replace table {{ consultation_exports_memory() }} as
        {{ counting_consultation_exports() }}
    {%- endif %}
{% endmacro %}
