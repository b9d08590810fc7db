{#-
    int_consultations_current is built incrementally on DuckDB (issue 14: a new monthly export
    must not cost a rebuild of every consultation ever received). Each build remembers which
    exports counted (int_consultations_current__exports, written after the model); the next
    build recomputes only the 受付番号 found in exports that began or stopped counting since
    (int_consultations_current__changed, written before the model): for those the newest
    version is chosen again among all counting exports, exactly as a full build chooses it, and
    every other consultation keeps its row (its exports did not change, and the order between
    two exports never changes). Without that memory every consultation counts as changed.
    Spark builds the model whole every run. Downstream, audit.consultations_held looks again
    at the same 受付番号 and marts.consultation_volumes counts again the months they fall in
    (consultations_touched); both are whole on a whole build.

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

{#- The condition on consultation_id that chooses the consultations an increment looks at
    again (after record_changed_consultations). A plain semi-join, so that DuckDB filters the
    10 M-row scans by the changed 受付番号 themselves: a condition that also asked "or is this a
    whole build?" at run time made every scan read and test every row. Whether the build is
    whole is decided when the SQL is written (consultations_whole_build). -#}
{% macro consultations_chosen_again() %}
    {{ return(
        'consultation_id in (select consultation_id from '
        ~ consultations_state('changed') ~ ')'
    ) }}
{% endmacro %}

{#- Whether this build looks at every consultation again, as int_consultations_current's
    pre-hook recorded it: for SQL written after that model began (its other hooks, models
    and tests downstream). True where nothing was recorded (Spark; a dbt command that did
    not build the model), so that nothing is left unlooked at. -#}
{% macro consultations_whole_build() %}
    {%- if not execute or not consultations_incremental() -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set changed = consultations_state('changed') -%}
    {%- if adapter.get_relation(
        database=target.database, schema=changed.schema, identifier=changed.identifier
    ) is none -%}
        {{ return(true) }}
    {%- endif -%}
    {#- A whole build records one row (whole_build true); an increment one per 受付番号, or
        none when no export began or stopped counting: nothing to look at again, not all. -#}
    {%- set whole = run_query('select coalesce(bool_or(whole_build), false) from ' ~ changed) -%}
    {{ return(whole.columns[0].values()[0]) }}
{% endmacro %}

{#- The condition that chooses the consultations this build looks at again, as the model's
    pre-hook recorded it, for SQL written after that (the model's other hook, the models and
    tests downstream): '' (every one) on a whole build. -#}
{% macro consultations_chosen_as_recorded() %}
    {{ return('' if consultations_whole_build() else consultations_chosen_again()) }}
{% endmacro %}

{#- pre-hook 2 (and audit.consultations_held's): the changed consultations leave the table
    (every row on a whole build); the model adds them back as they are now (append). -#}
{% macro forget_changed_consultations() %}
    {%- if is_incremental() %}
        {{ forget_rows(consultations_chosen_as_recorded()) }}
    {%- endif %}
{% endmacro %}

{#- An incremental model's rows that `condition` chooses leave it (every row without one). -#}
{% macro forget_rows(condition) %}
    delete from {{ this }}
    {%- if condition %}
        where {{ condition }}
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
    chose again, by their 受付番号 alone: an increment chooses no row without one (its filter
    is the same semi-join), rows without one come only from a whole build, which tests every
    row, and a new export's rows without one fail its staging test (scope 'new_exports')
    before the model is built. Asking for them here as well ("is null or ...") would make
    DuckDB read every row: the semi-join is then no longer pushed into the scan. Everything
    (no filter) on Spark, on a full refresh and on a first build. -#}
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
        {{ return(consultations_chosen_as_recorded()) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error('unknown consultations test scope: ' ~ scope) }}
{% endmacro %}

{#- A condition on `column` for what adds consultations up by fiscal year or month: the
    values `of` (an expression on stg_consultations' columns: 'fiscal_year', a month) of the
    consultations this build chose again, in any of their versions - the one counted before
    and the one counted now (a correction can move a consultation from a month or year to
    another). Empty (no condition: every row) on a whole build and where everything is tested. -#}
{% macro consultations_touched(column, of='fiscal_year') %}
    {%- if not consultations_incremental() or flags.FULL_REFRESH -%}
        {{ return('') }}
    {%- endif -%}
    {%- set chosen = consultations_chosen_as_recorded() -%}
    {%- if not chosen -%}
        {{ return('') }}
    {%- endif -%}
    {%- set condition -%}
        {{ column }} in (
            select {{ of }} from {{ ref('stg_consultations') }}
            where {{ chosen }}
        )
    {%- endset -%}
    {{ return(condition) }}
{% endmacro %}

{#- The month a consultation is counted in (consultation_volumes.month). -#}
{% macro consultation_month() %}
    {{ return('cast(' ~ dbt.date_trunc('month', 'received_on') ~ ' as date)') }}
{% endmacro %}

{#- consultation_volumes' pre-hook: the months whose consultations changed leave the mart (every
    row on a whole build); the model adds them back as they are now (append). -#}
{% macro forget_changed_months() %}
    {%- if is_incremental() %}
        {{ forget_rows(consultations_touched('month', consultation_month())) }}
    {%- endif %}
{% endmacro %}
