{#-
    Every version of the consultations `chosen` (a condition on consultation_id; every
    consultation when empty) in the exports that count now, with the export's version_order
    and, where a closed year holds the version back, held_for_year and held_because (null: the
    version counts). The one statement of the closed years' rule for consultations
    (docs/submissions.md, "Closing a fiscal year"): an export that came after a year was
    closed and was not released (int_year_locks) changes nothing the year counts -
      'in_closed_year': its version lies in the closed year (adds or changes a consultation
        of the closed figures);
      'moves_out': the consultation counts in the closed year without the exports that came
        after the closing (the newest of the others lies in it), and this version would take
        it out (its 受付日 corrected into another year).
    int_consultations_current chooses among the versions that count; audit.consultations_held
    keeps the others; the consultations' reconciliation test counts with it.
-#}
{% macro consultation_versions(chosen='') %}
    with exports as (
        select
            sha256,
            version_order
        from {{ ref('int_submissions_current') }}
        where is_current and source = 'consultations'
    ),

    late as (
        select
            locks.sha256,
            locks.fiscal_year as closed_year
        from {{ ref('int_year_locks') }} as locks
        inner join exports
            on locks.sha256 = exports.sha256
    ),

    versions as (
        select
            staged.*,
            exports.version_order
        from {{ ref('stg_consultations') }} as staged
        inner join exports
            on staged.sha256 = exports.sha256
        {%- if chosen %}
            where {{ chosen }}
        {%- endif %}
    ),

    -- Versions in a closed year (only years some counting export came too late for).
    in_closed_years as (
        select
            versions.sha256,
            versions.consultation_id,
            versions.fiscal_year as closed_year,
            late.sha256 is not null as is_late
        from versions
        inner join (select distinct closed_year from late) as closed
            on versions.fiscal_year = closed.closed_year
        left join late
            on
                versions.sha256 = late.sha256
                and versions.fiscal_year = late.closed_year
    ),

    -- A late export's versions outside the closed year, of consultations that an export not
    -- late for it has in the year.
    leaving as (
        select
            versions.sha256,
            versions.consultation_id,
            kept.closed_year
        from (
            select distinct
                consultation_id,
                closed_year
            from in_closed_years
            where not is_late
        ) as kept
        inner join versions
            on kept.consultation_id = versions.consultation_id
        inner join late
            on
                versions.sha256 = late.sha256
                and kept.closed_year = late.closed_year
        where versions.fiscal_year <> kept.closed_year
    ),

    -- For those: the newest version among the exports not late for the year says whether the
    -- closed figures count the consultation in it - leaving out a version that lies in a
    -- closed year its own export came too late for (held back there: it never counted).
    earlier as (
        select
            touched.consultation_id,
            touched.closed_year,
            versions.fiscal_year,
            row_number() over (
                partition by touched.consultation_id, touched.closed_year
                order by versions.version_order desc
            ) as recency
        from (
            select distinct
                consultation_id,
                closed_year
            from leaving
        ) as touched
        inner join versions
            on touched.consultation_id = versions.consultation_id
        left join late
            on
                versions.sha256 = late.sha256
                and touched.closed_year = late.closed_year
        left join late as late_in_own_year
            on
                versions.sha256 = late_in_own_year.sha256
                and versions.fiscal_year = late_in_own_year.closed_year
        where late.sha256 is null and late_in_own_year.sha256 is null
    ),

    held_versions as (
        select
            sha256,
            consultation_id,
            closed_year,
            1 as in_closed_year
        from in_closed_years
        where is_late
        union all
        select
            leaving.sha256,
            leaving.consultation_id,
            leaving.closed_year,
            0 as in_closed_year
        from leaving
        inner join earlier
            on
                leaving.consultation_id = earlier.consultation_id
                and leaving.closed_year = earlier.closed_year
        where earlier.recency = 1 and earlier.fiscal_year = earlier.closed_year
    ),

    held as (
        select
            sha256,
            consultation_id,
            -- a version in a closed year is held there; one that would leave closed years,
            -- for the earliest of them
            coalesce(
                max(case when in_closed_year = 1 then closed_year end), min(closed_year)
            ) as held_for_year,
            max(in_closed_year) as in_closed_year
        from held_versions
        group by sha256, consultation_id
    )

    select
        versions.*,
        held.held_for_year,
        case
            when held.in_closed_year = 1 then 'in_closed_year'
            when held.sha256 is not null then 'moves_out'
        end as held_because
    from versions
    left join held
        on
            versions.sha256 = held.sha256
            and versions.consultation_id = held.consultation_id
{% endmacro %}
