{#-
    int_consultations_current is built incrementally on DuckDB (issue 14: a new monthly export
    must not cost a rebuild of every consultation ever received). Each build remembers which
    exports counted (int_consultations_current__exports, written after the model); the next
    build recomputes only the 受付番号 found in exports that began or stopped counting since
    (int_consultations_current__changed, written before the model): for those the newest
    version is chosen again among all counting exports, exactly as a full build chooses it, and
    every other consultation keeps its row (its exports did not change, and the order between
    two exports never changes). Without that memory every consultation counts as changed.
    Spark builds the model whole every run.

    The data tests on consultations check what a build changed (consultations_test_scope):
    rows of a staging export once tested never change (the lake is append-only, one file per
    export), and the consultations not chosen again keep rows that passed the tests of the
    build that wrote them. A full refresh, and any build after one that failed or stopped
    (pipelines/warehouse/build_plan.py), tests everything.
-#}

{% macro consultations_incremental() %}
    {{ return(target.type == 'duckdb') }}
{% endmacro %}

{#- The model's bookkeeping tables, beside it: 'exports' (the exports the last build
    counted) and 'changed' (the 受付番号 this build chose again). -#}
{% macro consultations_state(name) %}
    {{ return(api.Relation.create(
        schema=generate_schema_name('intermediate', none),
        identifier='int_consultations_current__' ~ name,
    )) }}
{% endmacro %}

{#- Whether an earlier build left its memory (known when this dbt invocation began). -#}
{% macro consultations_remembered() %}
    {%- set memory = consultations_state('exports') -%}
    {{ return(adapter.get_relation(
        database=target.database, schema=memory.schema, identifier=memory.identifier
    )) }}
{% endmacro %}

{#- The exports whose consultations count now (current consultation submissions), one row per
    closed year each is locked out of (0: none). -#}
{% macro counting_consultation_exports() %}
    select
        exports.sha256,
        coalesce(locks.fiscal_year, 0) as locked_year
    from {{ ref('int_submissions_current') }} as exports
    left join {{ ref('int_year_locks') }} as locks
        on exports.sha256 = locks.sha256
    where exports.is_current and exports.source = 'consultations'
{% endmacro %}

{#- The 受付番号 to recompute: those in exports that began or stopped counting. -#}
{% macro changed_consultation_ids() %}
    {%- set remembered = consultations_remembered() -%}
    select distinct consultation_id
    from {{ ref('stg_consultations') }}
    {%- if remembered is not none %}
        where sha256 in (
            select changed_exports.sha256 from (
                (
                    {{ counting_consultation_exports() }}
                    except
                    select sha256, locked_year from {{ remembered }}
                )
                union all
                (
                    select sha256, locked_year from {{ remembered }}
                    except
                    {{ counting_consultation_exports() }}
                )
            ) as changed_exports
        )
    {%- endif %}
{% endmacro %}

{#- pre-hook 1: what this build chooses again, for the model's filter and its tests: the
    changed 受付番号 on an increment, "everything" (one row, whole_build) on a whole build. -#}
{% macro record_changed_consultations() %}
    {%- if consultations_incremental() %}
        create or replace table {{ consultations_state('changed') }} as
        {%- if is_incremental() %}
            select distinct consultation_id, false as whole_build
            from ({{ changed_consultation_ids() }}) as changed_ids
        {%- else %}
            select cast(null as varchar) as consultation_id, true as whole_build
        {%- endif %}
    {%- endif %}
{% endmacro %}

{#- The condition on consultation_id that chooses the consultations this build looks at again
    (after record_changed_consultations; a whole build looks at every one). -#}
{% macro consultations_chosen_again() %}
    {%- set changed = consultations_state('changed') -%}
    {{ return(
        '(consultation_id in (select consultation_id from ' ~ changed ~ ') or (select '
        ~ 'bool_or(whole_build) from ' ~ changed ~ '))'
    ) }}
{% endmacro %}

{#- pre-hook 2 (and audit.consultations_held's): the changed consultations leave the table; the
    model adds them back as they are now (append). -#}
{% macro forget_changed_consultations() %}
    {%- if is_incremental() %}
        delete from {{ this }}
        where {{ consultations_chosen_again() }}
    {%- endif %}
{% endmacro %}

{#- post-hook: remember which exports this build counted. -#}
{% macro remember_consultation_exports() %}
    {%- if consultations_incremental() %}
        create or replace table {{ consultations_state('exports') }} as
        {{ counting_consultation_exports() }}
    {%- endif %}
{% endmacro %}

{#- The rows a data test on consultations reads (its `where`; see get_where_subquery):
    'new_exports' - staging rows of exports the last build did not count (tested before the
    model is built, so before the memory moves on); 'changed' - the consultations this build
    chose again. Everything (no filter) on Spark, on a full refresh and on a first build. -#}
{% macro consultations_test_scope(scope) %}
    {%- if not consultations_incremental() or flags.FULL_REFRESH -%}
        {{ return('') }}
    {%- elif scope == 'new_exports' -%}
        {%- set remembered = consultations_remembered() -%}
        {%- if remembered is none -%}{{ return('') }}{%- endif -%}
        {{ return(
            'sha256 is null or sha256 not in (select sha256 from '
            ~ remembered ~ ')'
        ) }}
    {%- elif scope == 'changed' -%}
        {{ return('consultation_id is null or ' ~ consultations_chosen_again()) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error('unknown consultations test scope: ' ~ scope) }}
{% endmacro %}

{#- A condition on `column` (a fiscal year) for tests that add consultations up by fiscal
    year: the years of the consultations this build chose again, in any of their versions
    (a correction can move one from a year to another); every year on a whole build. Empty
    (no condition) where everything is tested. -#}
{% macro consultations_changed_years(column) %}
    {%- if not consultations_incremental() or flags.FULL_REFRESH -%}
        {{ return('') }}
    {%- endif -%}
    {%- set changed = consultations_state('changed') -%}
    {%- set condition -%}
        ({{ column }} in (
            select fiscal_year from {{ ref('stg_consultations') }}
            where consultation_id in (select consultation_id from {{ changed }})
        ) or (select bool_or(whole_build) from {{ changed }}))
    {%- endset -%}
    {{ return(condition) }}
{% endmacro %}
