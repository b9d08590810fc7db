"""Data-quality suites: the reviewed JSON files in ``expectations/``, and running them.

Two kinds of suite (``target.kind``):

- ``submission``: a source's suite, run once on the rows of each file as it is taken in
  (:mod:`pipelines.quality.submission_checks`). A failed ``error`` expectation holds that one
  submission back; a ``warning`` is recorded and shown.
- ``mart``: run on a table of the private working database after ``dbt build`` and before
  publishing; blocking (:mod:`pipelines.defs.quality`).

great-expectations is imported only when :class:`Validator` first runs a suite (it takes
seconds to import and pulls in scipy): loading suites costs nothing at definition time, and a
run with no new file never imports it. A run that will check files starts the *warm checks*
(:func:`start_warm_checks`) as it begins: a helper process imports great-expectations on the
other core meanwhile, and runs the suites when the files come (the same suites and frames, the
same results; pipelines.foundation.warm_process). GX validates pandas DataFrames, chunk by
chunk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.foundation import warm_process
from pipelines.foundation.processes import can_fork_with
from pipelines.foundation.settings import EXPECTATIONS_DIR, Settings
from pipelines.ingest.archive import keep_record
from pipelines.ingest.lake_tables import DQ_RESULT_SCHEMA, DQ_RESULTS

EXAMPLES = 5
SUITE_KINDS = ("submission", "mart")


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    kind: str  # "submission" (one file's rows) or "mart" (a table of the working database)
    table: str  # the source key, or schema.table of the mart
    columns: tuple[str, ...]
    expectations: tuple[dict[str, Any], ...]
    # Columns computed for the check (SQL over the suite's columns), and the columns each is
    # computed from: a finding names those, as the sender wrote them.
    derived: dict[str, str] = field(default_factory=dict)
    derived_from: dict[str, tuple[str, ...]] = field(default_factory=dict)
    query: str | None = None
    # Mart suites: which columns of a failing row name the submission behind it, e.g.
    # {"source": "ibasho_survey", "fiscal_year": "fiscal_year", "submitter_code": "ward_code"}.
    submission: dict[str, str] = field(default_factory=dict)

    def judged_columns(self, expectation: dict[str, Any]) -> tuple[str, ...]:
        """The table's own columns an expectation judges (a derived column: what it is
        computed from)."""
        kwargs = expectation["kwargs"]
        columns = [kwargs["column"]] if "column" in kwargs else list(kwargs.get("column_list", []))
        judged: list[str] = []
        for column in columns:
            for name in self.derived_from.get(column, (column,)):
                if name not in judged:
                    judged.append(name)
        return tuple(judged)

    @property
    def judged(self) -> tuple[str, ...]:
        """Every column some expectation judges, in the order the expectations name them."""
        found: list[str] = []
        for expectation in self.expectations:
            found += [c for c in self.judged_columns(expectation) if c not in found]
        return tuple(found)


def _parse_suite(path: Path) -> Suite:
    raw = json.loads(path.read_text(encoding="utf-8"))
    keys = [(e["type"], e["kwargs"].get("column")) for e in raw["expectations"]]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{path.name}: one expectation per type and column")
    for expectation in raw["expectations"]:
        if expectation.get("meta", {}).get("severity") not in ("error", "warning"):
            raise ValueError(f"{path.name}: every expectation needs severity error|warning")
    if raw["target"]["kind"] not in SUITE_KINDS:
        raise ValueError(f"{path.name}: target.kind must be one of {SUITE_KINDS}")
    return Suite(
        name=raw["name"],
        description=raw["description"],
        kind=raw["target"]["kind"],
        table=raw["target"]["table"],
        columns=tuple(raw["columns"]),
        expectations=tuple(raw["expectations"]),
        derived={name: d["sql"] for name, d in raw.get("derived", {}).items()},
        derived_from={name: tuple(d["from"]) for name, d in raw.get("derived", {}).items()},
        query=raw.get("query"),
        submission=raw.get("submission", {}),
    )


@cache
def load_suites() -> dict[str, Suite]:
    suites = (_parse_suite(path) for path in sorted(EXPECTATIONS_DIR.glob("*.json")))
    return {suite.name: suite for suite in suites}


def suites_for(kind: str) -> list[Suite]:
    return [s for s in load_suites().values() if s.kind == kind]


def submission_suite(source: str) -> Suite | None:
    """The suite that checks each file of ``source``, if the source has one."""
    return next((s for s in suites_for("submission") if s.table == source), None)


def with_derived(suite: Suite, frame: pd.DataFrame) -> pd.DataFrame:
    """The suite's columns of ``frame`` plus its derived columns (SQL expressions over them)."""
    if not suite.derived:
        return frame
    derived = ", ".join(f"{sql} as {name}" for name, sql in suite.derived.items())
    connection = duckdb.connect()
    try:
        connection.register("frame", frame)
        return connection.sql(f"select *, {derived} from frame").df()
    finally:
        connection.close()


WARM_CHECKS = "great-expectations"  # the warm process that runs suites (pipelines.foundation)


# great-expectations imports PySpark when it is installed (the Spark extra installs it for the
# test cluster) to offer Spark DataFrames; every check here runs on pandas DataFrames.
UNUSED_BY_CHECKS = "pyspark"
# ... and scipy.stats (with scipy's sparse, linalg, special and optimize: about a third of its
# import, ~1 s of CPU in every process that checks files) for three statistical expectations
# (KL divergence, KS tests) this project does not use; they use it only when they run.
LOADED_WHEN_USED = "scipy.stats"


def _load_when_used(name: str) -> None:
    """Make ``name`` (a submodule) a module that is imported on its first attribute access
    (importlib's LazyLoader), also set on its package so that `from package import name`
    does not import it."""
    if name in sys.modules:
        return
    package, _, attribute = name.rpartition(".")
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return  # not installed: importing it fails as it would have
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    setattr(sys.modules[package], attribute, module)


def import_great_expectations():
    """great-expectations, with analytics off, imported as if PySpark were absent (it treats
    an ImportError as "not installed"): importing PySpark costs most of a second and prints a
    warning on every run. PySpark stays importable for anything else in the process;
    scipy.stats is imported when something first uses it."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"  # nothing phones home
    if "great_expectations" in sys.modules or UNUSED_BY_CHECKS in sys.modules:
        import great_expectations

        return great_expectations
    sys.modules[UNUSED_BY_CHECKS] = None  # `import pyspark` raises ImportError
    _load_when_used(LOADED_WHEN_USED)
    try:
        import great_expectations
    finally:
        del sys.modules[UNUSED_BY_CHECKS]
    # What great-expectations logs (a Data Docs page it could not write, with its traceback)
    # is not printed on the terminal by Python's last-resort handler: the run tells the
    # failures it needs to in its own lines (data_docs_failures).
    logging.getLogger("great_expectations").addHandler(logging.NullHandler())
    return great_expectations


def start_warm_checks() -> None:
    """Have great-expectations imported in a helper process from now on, to run this
    process's suites. Where it is imported here already (a run in a fork of `welfare worker`)
    the helper is a fork of this process, ready at once (its context is made before the first
    call, and a mart suite's Data Docs are written after its answer); none where this process
    cannot fork (the suites run here)."""
    loaded = "great_expectations" in sys.modules
    if not loaded or can_fork_with("great_expectations"):
        warm_process.start(
            WARM_CHECKS,
            [f"{__name__}:_ready"],
            env={"GX_ANALYTICS_ENABLED": "False"},
            fork=loaded,
        )


def stop_warm_checks() -> None:
    warm_process.stop(WARM_CHECKS)


@dataclass(frozen=True)
class Outcome:
    """One expectation's result on a frame (the fields of GX's result this module reads)."""

    success: bool
    result: dict[str, Any]


class Validator:
    """One great-expectations context: suites are registered once, then any number of
    DataFrames are validated against them (about 35 ms a small file). With warm checks
    running (:func:`start_warm_checks`), the suites run there."""

    def __init__(self, data_docs: Path | None = None) -> None:
        self._data_docs = data_docs
        self._context: Any = None
        self._definitions: dict[str, Any] = {}
        self._runners: dict[tuple[str, bool], Any] = {}

    def _outcomes(
        self, suite: Suite, frame: pd.DataFrame, result_format: dict[str, Any]
    ) -> list[Outcome]:
        """The suite's expectations on ``frame``, in the suite's order."""
        warm = warm_process.running(WARM_CHECKS)
        if warm is not None:
            docs = str(self._data_docs) if self._data_docs is not None else None
            try:
                return warm.call(__name__, "_outcomes_here", suite.name, docs, frame, result_format)
            except warm_process.Gone:
                pass  # run here instead
        return self.outcomes_here(suite, frame, result_format)

    def outcomes_here(
        self,
        suite: Suite,
        frame: pd.DataFrame,
        result_format: dict[str, Any],
        data_docs: bool = True,
    ) -> list[Outcome]:
        """The same, in this process (``data_docs``: written, when this validator has them).
        Data Docs that cannot be written leave the outcomes as they are: the failure is kept
        for the run to tell (:func:`data_docs_failures`)."""
        try:
            outcome = self._runner(suite, result_format, data_docs)(frame, result_format)
        except Exception as error:
            if not (data_docs and self._data_docs is not None):
                raise
            # Without Data Docs: an error of the suite itself is raised from here, as always.
            outcome = self._runner(suite, result_format, False)(frame, result_format)
            _DATA_DOCS_FAILURES.append(_first_line(suite.name, error))
        by_key = {
            (r.expectation_config.type, r.expectation_config.kwargs.get("column")): r
            for r in outcome.results
        }
        found = [by_key[(e["type"], e["kwargs"].get("column"))] for e in suite.expectations]
        return [Outcome(bool(r.success), dict(r.result)) for r in found]

    def _gx(self):
        """great-expectations and this validator's context (imported and made on first use)."""
        gx = import_great_expectations()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        if self._context is None:
            self._context = gx.get_context(mode="ephemeral")
            self._context.enable_analytics(False)
            self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        return gx, self._context

    def _definition(self, suite: Suite):
        """The suite's validation definition in this context (made once)."""
        if suite.name in self._definitions:
            return self._definitions[suite.name]
        gx, context = self._gx()
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )

        batch_definition = (
            context.data_sources.add_pandas(f"welfare_{suite.name}")
            .add_dataframe_asset(suite.name)
            .add_batch_definition_whole_dataframe("frame")
        )
        gx_suite = context.suites.add(
            gx.ExpectationSuite(
                name=suite.name,
                expectations=[
                    ExpectationConfiguration(
                        type=e["type"], kwargs=e["kwargs"], meta=e["meta"]
                    ).to_domain_obj()
                    for e in suite.expectations
                ],
            )
        )
        self._definitions[suite.name] = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=gx_suite)
        )
        return self._definitions[suite.name]

    def _runner(self, suite: Suite, result_format: dict[str, Any], data_docs: bool = True):
        """A checkpoint (with Data Docs) or a validation definition, ready to run frames; the
        result format is the runner's first (a validation definition takes one per frame)."""
        key = (suite.name, data_docs and self._data_docs is not None)
        if key in self._runners:
            return self._runners[key]
        definition = self._definition(suite)

        def runner(frame: pd.DataFrame, result_format: dict[str, Any] = result_format):
            return definition.run(
                batch_parameters={"dataframe": frame}, result_format=result_format
            )

        if key[1]:
            gx, context = self._gx()
            context.add_data_docs_site(
                site_name=suite.name,
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(self._data_docs / suite.name),
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
            checkpoint = context.checkpoints.add(
                gx.Checkpoint(
                    name=suite.name,
                    validation_definitions=[definition],
                    result_format=result_format,
                    actions=[
                        gx.checkpoint.UpdateDataDocsAction(
                            name="data_docs", site_names=[suite.name]
                        )
                    ],
                )
            )

            def runner(frame: pd.DataFrame, result_format: dict[str, Any] = result_format):
                [outcome] = checkpoint.run(
                    batch_parameters={"dataframe": frame}
                ).run_results.values()
                return outcome

        self._runners[key] = runner
        return runner

    def validate(
        self,
        suite: Suite,
        chunks: Iterable[pd.DataFrame],
        run_id: str,
        index_columns: tuple[str, ...] = (),
    ) -> tuple[pd.DataFrame, list[list[tuple]]]:
        """Validate the chunks of one table (the suite's derived columns added here); one row
        per expectation (audit.dq_results), and for each expectation the ``index_columns``
        values of the rows that failed it (each row once, as the table holds them)."""
        result_format = _result_format(index_columns)
        totals = [_Total() for _ in suite.expectations]
        for chunk in chunks:
            results = self._outcomes(suite, with_derived(suite, chunk), result_format)
            for total, result in zip(totals, results, strict=True):
                total.success &= bool(result.success)
                total.element_count += int(result.result.get("element_count") or len(chunk))
                total.unexpected_count += int(result.result.get("unexpected_count") or 0)
                total.examples += list(result.result.get("partial_unexpected_list") or [])
                for index in result.result.get("unexpected_index_list") or []:
                    if isinstance(index, dict) and all(c in index for c in index_columns):
                        total.index.append(tuple(_python(index[c]) for c in index_columns))
        return _results_frame(suite, totals, run_id), [_distinct(t.index) for t in totals]

    def validate_each(
        self, suite: Suite, frames: list[pd.DataFrame], run_id: str, index_columns: tuple[str, ...]
    ) -> list[tuple[pd.DataFrame, list[list[tuple]]]]:
        """:meth:`validate` for each of several tables (one per file), with the same results
        as validating them one by one. A suite whose every expectation judges each row on its
        own (:func:`row_by_row`) runs once over all of them and its findings are split by
        table: great-expectations costs about 70 ms a run however small the table."""
        if not row_by_row(suite):
            return [self.validate(suite, [frame], run_id, index_columns) for frame in frames]
        columns = (_PART, *index_columns)
        result_format = _result_format(columns)
        combined = with_derived(
            suite,
            pd.concat(
                [frame.assign(**{_PART: n}) for n, frame in enumerate(frames)], ignore_index=True
            ),
        )
        results = self._outcomes(suite, combined, result_format)
        found: list[list[list[dict]]] = [[[] for _ in suite.expectations] for _ in frames]
        for position, result in enumerate(results):
            for index in result.result.get("unexpected_index_list") or []:
                found[int(index[_PART])][position].append(index)
        checked = []
        for frame, per_expectation in zip(frames, found, strict=True):
            totals = [
                _Total(
                    element_count=len(frame),
                    unexpected_count=len(unexpected),
                    success=not unexpected,
                    examples=[index.get(e["kwargs"]["column"]) for index in unexpected],
                    index=[tuple(_python(index[c]) for c in index_columns) for index in unexpected],
                )
                for e, unexpected in zip(suite.expectations, per_expectation, strict=True)
            ]
            checked.append(
                (_results_frame(suite, totals, run_id), [_distinct(t.index) for t in totals])
            )
        return checked


# Expectations that judge each row by its own values alone (no `mostly`): a table's findings
# are the union of its rows' findings, so tables can be validated together and split again.
ROW_BY_ROW = frozenset(
    {
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_be_null",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
    }
)
_PART = "__welfare_part"  # which table of validate_each a row came from


def row_by_row(suite: Suite) -> bool:
    return all(
        e["type"] in ROW_BY_ROW and "mostly" not in e["kwargs"] and "column" in e["kwargs"]
        for e in suite.expectations
    )


@dataclass
class _Total:
    """One expectation's findings over a table (added up over its chunks)."""

    element_count: int = 0
    unexpected_count: int = 0
    success: bool = True
    examples: list[Any] = field(default_factory=list)
    index: list[tuple] = field(default_factory=list)


def _result_format(index_columns: tuple[str, ...]) -> dict[str, Any]:
    result_format: dict[str, Any] = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": EXAMPLES,
    }
    if index_columns:
        result_format.update(
            result_format="COMPLETE", unexpected_index_column_names=list(index_columns)
        )
    return result_format


def _results_frame(suite: Suite, totals: list[_Total], run_id: str) -> pd.DataFrame:
    """One row per expectation (the columns of audit.dq_results this module fills)."""
    now = dt.datetime.now(dt.UTC)
    return pd.DataFrame(
        [
            {
                "run_id": run_id,
                "checked_at": now,
                "suite": suite.name,
                "target": suite.table,
                "expectation": e["type"],
                "column_name": e["kwargs"].get("column")
                or ",".join(e["kwargs"].get("column_list", [])),
                "description": e["meta"].get("description"),
                "severity": e["meta"]["severity"],
                "success": t.success,
                "element_count": t.element_count,
                "unexpected_count": t.unexpected_count,
                "examples": ", ".join(map(plain_value, t.examples[:EXAMPLES])) or None,
            }
            for e, t in zip(suite.expectations, totals, strict=True)
        ]
    )


def _python(value: Any) -> Any:
    """A value as Python holds it (NumPy's scalars become int, float …)."""
    return value.item() if isinstance(value, np.generic) else value


def _distinct(index: list[tuple]) -> list[tuple]:
    """Each row once (by its first index value, e.g. the file's row number), in row order."""
    first: dict[str, tuple] = {}
    for values in index:
        first.setdefault(plain_value(values[0]), values)
    return sorted(first.values(), key=lambda values: _sort_key(values[0]))


def _sort_key(value: Any) -> tuple:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def plain_value(value: Any) -> str:
    """An example value as people write it (500, not 500.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@cache
def validator(data_docs: Path | None = None) -> Validator:
    """The process's validator for submission suites (no Data Docs: findings go to the
    ledger), or for mart suites with their Data Docs in ``data_docs``."""
    return Validator(data_docs)


def _ready() -> None:
    """In the warm checks: great-expectations imported and a context made before any call."""
    validator()._gx()


def _outcomes_here(
    suite: str, data_docs: str | None, frame: pd.DataFrame, result_format: dict[str, Any]
) -> list[Outcome] | warm_process.ThenDo:
    """In the warm checks: one call of :meth:`Validator._outcomes`. The answer does not wait
    for a mart suite's Data Docs (a few tenths of a second): they are written right after it,
    before the next call is taken (:func:`settle_warm_checks` waits for them)."""
    found = validator(Path(data_docs) if data_docs else None)
    checked = load_suites()[suite]
    if data_docs is None:
        return found.outcomes_here(checked, frame, result_format)
    outcomes = found.outcomes_here(checked, frame, result_format, data_docs=False)
    return warm_process.ThenDo(outcomes, lambda: found.outcomes_here(checked, frame, result_format))


# Mart suites whose Data Docs could not be written in this process (their outcomes stand).
_DATA_DOCS_FAILURES: list[str] = []


def _first_line(suite: str, error: BaseException) -> str:
    said = str(error).strip().splitlines()
    return f"{suite}: {type(error).__name__}: {said[0][:200] if said else ''}"


def data_docs_failures() -> list[str]:
    """The Data Docs this process could not write since it was last asked (and forgets them)."""
    failures = list(_DATA_DOCS_FAILURES)
    _DATA_DOCS_FAILURES.clear()
    return failures


def _settled() -> list[str]:
    """In the warm checks: answered once the work of the calls before is done; what of it
    failed."""
    return data_docs_failures()


def settle_warm_checks() -> list[str]:
    """Wait until the warm checks have finished what they do after answering (Data Docs);
    the mart suites whose Data Docs could not be written, there or here."""
    failures = []
    warm = warm_process.running(WARM_CHECKS)
    if warm is not None:
        with contextlib.suppress(warm_process.Gone):
            failures += warm.call(__name__, "_settled")
    return failures + data_docs_failures()


def data_docs_dir(settings: Settings, suite: str | None = None) -> Path:
    """Where a mart suite's GX Data Docs are written: reports/data_docs/<suite>/index.html."""
    root = settings.reports / "data_docs"
    return root / suite if suite else root


def dq_results_path(lake: Path, name: str) -> Path:
    return lake / DQ_RESULTS / f"{name}.parquet"


def dq_results_table(results: pd.DataFrame) -> pa.Table:
    frame = results.reindex(columns=DQ_RESULT_SCHEMA.names)
    frame = frame.astype(object).where(frame.notna(), None)
    return pa.Table.from_pandas(frame, schema=DQ_RESULT_SCHEMA, preserve_index=False)


def record_results(settings: Settings, results: pd.DataFrame) -> Path:
    """Keep a mart suite's results as history (a record: archive and lake/dq_results →
    audit.dq_results)."""
    run_id, suite = results["run_id"].iloc[0], results["suite"].iloc[0]
    return keep_record(
        settings.archive,
        settings.lake,
        DQ_RESULTS,
        f"{run_id}__{suite}",
        dq_results_table(results),
    )
