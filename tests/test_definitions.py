"""The Dagster code location loads cheaply: no great-expectations, no dbt-core, no dbt run; and
great-expectations, where files are checked, without what its checks here never use."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_definitions_load_without_importing_gx_or_running_dbt(sample_run):
    home, _ = sample_run
    before = set(home.dbt_target_dir.iterdir())
    script = textwrap.dedent("""
        import sys
        from pipelines.definitions import defs
        assert "great_expectations" not in sys.modules, "GX imported at definition load"
        # dbt runs in processes of its own: its Python modules cost a second here for nothing
        # (pipelines/defs/dagster_adapter.py).
        assert not [m for m in sys.modules if m.split(".")[0] == "dbt"], "dbt-core imported"
        # The Spark extra (installed for the tests) is not needed where DuckDB is the engine.
        spark = {"pyspark", "pyhive", "thrift"}
        assert not [m for m in sys.modules if m.split(".")[0] in spark], "Spark extra imported"
        graph = defs.resolve_asset_graph()
        keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
        assert {"lake/ibasho_survey", "lake/consultations", "marts/place_counts",
                "published_warehouse"} <= keys, keys
        assert defs.resolve_schedule_def("nightly_warehouse").cron_schedule == "0 2 * * *"
        assert len(list(graph.asset_check_keys)) > 50
        print("ok")
    """)
    env = {**os.environ, "WELFARE_HOME": str(home.home)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert set(home.dbt_target_dir.iterdir()) == before  # no dbt invocation left artefacts


def test_great_expectations_loads_scipy_stats_only_when_it_is_used():
    """Every run that checks files imports great-expectations; scipy.stats (a third of that
    import) is loaded only by an expectation that uses it, none of this project's."""
    script = textwrap.dedent("""
        import sys, importlib.util
        from pipelines.quality.suites import import_great_expectations
        gx = import_great_expectations()
        stats = sys.modules["scipy.stats"]
        assert isinstance(stats, importlib.util._LazyModule), "scipy.stats imported with GX"
        assert "scipy.stats._stats_py" not in sys.modules
        # GX's statistical expectations still find it, loaded at their first use.
        from great_expectations.expectations.core import (
            expect_column_kl_divergence_to_be_less_than as kl,
        )
        assert kl.stats is stats and kl.stats.norm.cdf(0) == 0.5
        assert "scipy.stats._stats_py" in sys.modules
        print("ok")
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_dagster_yaml_turns_telemetry_off_and_limits_writers(home):
    import yaml

    from pipelines.defs.instance import write_dagster_yaml

    config = yaml.safe_load(write_dagster_yaml(home).read_text(encoding="utf-8"))
    assert config["telemetry"]["enabled"] is False
    assert config["concurrency"]["pools"]["default_limit"] == 1
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        assert str(home.home) in config[storage]["config"]["base_dir"]


def test_dagster_yaml_is_kept_up_to_date_unless_it_is_the_operators_own(home):
    """A dagster.yaml an older version of the project wrote is rewritten; one the operator
    made their own (PostgreSQL storage, the marking first line deleted) is never touched."""
    from pipelines.defs.instance import write_dagster_yaml

    path = write_dagster_yaml(home)
    ours = path.read_text(encoding="utf-8")
    path.write_text(ours.replace("max_concurrent_runs: 1", "max_concurrent_runs: 3"))
    assert write_dagster_yaml(home).read_text(encoding="utf-8") == ours
    own = "storage:\n  postgres:\n    postgres_url: postgresql://dagster@db.internal/dagster\n"
    path.write_text(own)
    assert write_dagster_yaml(home).read_text(encoding="utf-8") == own


def test_the_event_log_keeps_its_connections_and_loses_nothing(home):
    """Dagster's event log as the home's instance stores it (connections kept open between
    events): what one process writes, another reads at once, all of it; a run's write-ahead
    log stays small while the writer keeps its connection; a run's database removed under a
    process that had it open is made again, and the process goes on writing."""
    import dagster as dg

    from pipelines.defs.instance import write_dagster_yaml

    @dg.op
    def nothing() -> None:
        pass

    @dg.job
    def a_job() -> None:
        nothing()

    write_dagster_yaml(home)
    instance = dg.DagsterInstance.from_config(str(home.dagster_home))
    reader = (
        "import sys, dagster as dg\n"
        "with dg.DagsterInstance.from_config(sys.argv[1]) as instance:\n"
        "    print(len(instance.all_logs(sys.argv[2])))\n"
    )

    def seen_by_another_process(run_id: str) -> int:
        command = [sys.executable, "-c", reader, str(home.dagster_home), run_id]
        return int(subprocess.run(command, capture_output=True, text=True, check=True).stdout)

    try:
        run = instance.create_run_for_job(a_job)
        for n in range(300):
            instance.report_engine_event(f"event {n}", run)
        stored = len(instance.all_logs(run.run_id))
        assert stored >= 300 and seen_by_another_process(run.run_id) == stored
        shard = home.dagster_home / "storage" / "history" / "runs" / f"{run.run_id}.db"
        wal = shard.with_name(shard.name + "-wal")
        assert not wal.exists() or wal.stat().st_size < 2**20
        for path in shard.parent.glob(f"{shard.name}*"):
            path.unlink()
        instance.report_engine_event("after the file was removed", run)
        assert [e.message for e in instance.all_logs(run.run_id)] == ["after the file was removed"]
        assert seen_by_another_process(run.run_id) == 1
    finally:
        instance.dispose()
    assert not wal.exists()  # the last connection closed: SQLite folded its log in


def test_the_sample_run_parsed_in_the_background_and_a_parsed_home_parses_nothing(
    sample_run, new_home
):
    """`welfare run` in a new home leaves `dbt parse` running while it imports Dagster (the
    shared sample run is built so); the definitions wait for that parse, which leaves its
    fingerprint for the next run, and a home parsed already begins no parse."""
    from pipelines.home import prepare
    from pipelines.warehouse.fingerprints import dbt_fingerprint

    settings, summary = sample_run
    assert summary.success
    stamp = (settings.dbt_target_dir / "manifest.fingerprint").read_text()
    assert stamp.endswith(dbt_fingerprint())
    manifest = new_home.dbt_target_dir / "manifest.json"
    parsed_at = manifest.stat().st_mtime_ns
    parse = prepare(new_home, wait=False)
    assert parse.process is None and manifest.stat().st_mtime_ns == parsed_at


def test_the_only_private_apis_used_are_still_there():
    """pipelines/defs/dagster_adapter.py is the one place past Dagster's and dagster-dbt's
    public API; an upgrade that moves what it uses fails here, naming the upgrade."""
    from pipelines.defs.dagster_adapter import private_api_changes

    assert private_api_changes() == []
