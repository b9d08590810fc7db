"""Setting up a WELFARE_HOME: folders, the Dagster instance file, the lake and the dbt manifest."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from pipelines.extracts.audit_log import EXTRACT_SCHEMA, EXTRACTS_TABLE
from pipelines.ingest.contract import CONTRACTS_DIR, all_contracts
from pipelines.ingest.lake import Lake
from pipelines.ingest.release import RELEASE_SCHEMA, RELEASES_TABLE
from pipelines.operations.failures import RUN_FAILURE_SCHEMA, RUN_FAILURES_TABLE
from pipelines.settings import (
    DBT_PROJECT_DIR,
    EXPECTATIONS_DIR,
    PROJECT_ROOT,
    SAMPLE_DIR,
    Settings,
    dbt_executable,
)

DBT_INPUTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests", "analyses")


def dagster_instance_config(settings: Settings) -> dict:
    """dagster.yaml: SQLite storage under WELFARE_HOME/dagster, telemetry off, one writer."""
    base = settings.dagster_home
    return {
        "telemetry": {"enabled": False},
        "storage": {"sqlite": {"base_dir": str(base / "storage")}},
        "local_artifact_storage": {
            "module": "dagster.core.storage.root",
            "class": "LocalArtifactStorage",
            "config": {"base_dir": str(base)},
        },
        "compute_logs": {
            "module": "dagster.core.storage.local_compute_log_manager",
            "class": "LocalComputeLogManager",
            "config": {"base_dir": str(base / "logs")},
        },
        # Each pool (the lake's ledger, the working database) admits one step at a time, and
        # the queue runs one run at a time: two runs never write the working database at once.
        "concurrency": {"pools": {"default_limit": 1}, "runs": {"max_concurrent_runs": 1}},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
        },
        "run_retries": {"enabled": True, "max_retries": 1},
        "nux": {"enabled": False},
    }


def write_dagster_yaml(settings: Settings) -> Path:
    path = settings.dagster_home / "dagster.yaml"
    text = (
        "# Written by `welfare prepare` for this WELFARE_HOME; production set-up: README.md.\n"
        + yaml.safe_dump(dagster_instance_config(settings), sort_keys=False, allow_unicode=True)
    )
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path


def _dbt_fingerprint() -> str:
    digest = hashlib.sha256()
    paths = [DBT_PROJECT_DIR / name for name in DBT_INPUTS]
    paths.append(PROJECT_ROOT / "sources" / "reference")
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            digest.update(str(file.relative_to(PROJECT_ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def _rules_fingerprint() -> str:
    """The source contracts and the great-expectations suites: what reading and checking do."""
    digest = hashlib.sha256()
    for file in sorted([*CONTRACTS_DIR.glob("*.yml"), *EXPECTATIONS_DIR.glob("*.json")]):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def logic_fingerprint() -> str:
    """What the tables are computed by: models, reference data, contracts, suites (not data)."""
    return hashlib.sha256(f"{_dbt_fingerprint()}\n{_rules_fingerprint()}".encode()).hexdigest()


def inputs_fingerprint(settings: Settings) -> str:
    """What a published warehouse was built from: the lake's ledger entries and releases, the
    logs of failed runs and of extracts (audit tables), the models and reference data, the
    contracts and the suites. Equal fingerprints: a run would change nothing."""
    entries = [
        f"{table}/{p.name}"
        for table in ("submissions", RELEASES_TABLE, RUN_FAILURES_TABLE, EXTRACTS_TABLE)
        for p in sorted((settings.lake / table).glob("*.parquet"))
    ]
    parts = [_dbt_fingerprint(), _rules_fingerprint(), *entries]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def reason_to_run(settings: Settings) -> str | None:
    """Why a warehouse run is needed now, or None when it would change nothing: no file waits
    in landing/ and the inputs are those of the published version."""
    from pipelines.ingest.intake import pending_files
    from pipelines.ingest.repair import lake_damage
    from pipelines.warehouse.engine import is_published, last_publish, publication_complete

    lake = Lake(settings.lake)
    waiting = sum(len(pending_files(settings, c, lake)) for c in all_contracts())
    if waiting:
        return f"{waiting} new file(s) in the landing folder"
    if damaged := lake_damage(settings):
        return f"{len(damaged)} lake file(s) to rebuild from the archive ({damaged[0]}, ...)"
    last = last_publish(settings)
    if last is None and not is_published(settings):
        return "no published warehouse yet"
    if not publication_complete(settings):
        return "the Parquet files in published/ are behind the published warehouse"
    if (last[1] if last else None) != inputs_fingerprint(settings):
        return "the inputs changed since the published version (files, releases, models, rules)"
    return None


def run_dbt(
    settings: Settings,
    args: list[str],
    quiet: bool = True,
    capture: bool = True,
    target_path: Path | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
) -> subprocess.CompletedProcess:
    command, env = _dbt_command(settings, args, quiet, target_path, project_dir)
    return subprocess.run(command, env=env, capture_output=capture, text=True, check=False)


def _dbt_command(
    settings: Settings,
    args: list[str],
    quiet: bool = True,
    target_path: Path | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, **settings.dbt_env()}
    command = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(target_path or settings.dbt_target_dir),
    ]
    if quiet:
        command.insert(1, "--quiet")
    return command, env


# dbt parses begun in the background by this process (target folder → process, fingerprint)
_parsing: dict[Path, tuple[subprocess.Popen, str]] = {}


def prepare_manifest(settings: Settings, background: bool = False) -> Path:
    """Parse the dbt project once per change of its files (dbt parse costs 4–8 s). With
    ``background``, a parse that is needed only begins: :func:`manifest_ready` waits for it
    (`welfare run` imports Dagster meanwhile, on the other core)."""
    manifest = settings.dbt_target_dir / "manifest.json"
    stamp = settings.dbt_target_dir / "manifest.fingerprint"
    fingerprint = f"{settings.engine.dbt_target}:{_dbt_fingerprint()}"  # parsed for a target
    if settings.dbt_target_dir in _parsing:
        return manifest if background else manifest_ready(settings)
    if manifest.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return manifest
    command, env = _dbt_command(settings, ["parse"])
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _parsing[settings.dbt_target_dir] = (process, fingerprint)
    return manifest if background else manifest_ready(settings)


def manifest_ready(settings: Settings) -> Path:
    """The dbt manifest, once a parse this process began in the background has finished."""
    manifest = settings.dbt_target_dir / "manifest.json"
    started = _parsing.pop(settings.dbt_target_dir, None)
    if started is not None:
        process, fingerprint = started
        stdout, stderr = process.communicate()
        if process.returncode != 0 or not manifest.exists():
            raise RuntimeError(f"dbt parse failed:\n{stdout}\n{stderr}")
        (settings.dbt_target_dir / "manifest.fingerprint").write_text(fingerprint)
    return manifest


def initialize_lake(settings: Settings) -> None:
    """Every lake table exists (typed, possibly empty) so dbt can always read it."""
    from pipelines.ingest.repair import finish_interrupted_rebuild

    if note := finish_interrupted_rebuild(settings):
        logging.getLogger("welfare.repair").warning(note)
    initialize_tables(Lake(settings.lake))


def initialize_tables(lake: Lake) -> None:
    lake.initialize(
        all_contracts(),
        {
            RELEASES_TABLE: RELEASE_SCHEMA,
            RUN_FAILURES_TABLE: RUN_FAILURE_SCHEMA,
            EXTRACTS_TABLE: EXTRACT_SCHEMA,
        },
    )


def prepare(settings: Settings, manifest_in_background: bool = False) -> Settings:
    """Everything a WELFARE_HOME needs before the pipeline can run; safe to repeat. With
    ``manifest_in_background``, a dbt parse that is needed is left running (see
    :func:`prepare_manifest`)."""
    from pipelines.warehouse.engine import ensure_installed

    ensure_installed(settings)
    settings.ensure()
    write_dagster_yaml(settings)
    initialize_lake(settings)
    prepare_manifest(settings, background=manifest_in_background)
    return settings


def sample_sent_times(sample_dir: Path = SAMPLE_DIR) -> dict[str, float]:
    """When each sample file was saved by its sender (sent_at.csv; git keeps no mtimes)."""
    with (sample_dir / "sent_at.csv").open(encoding="utf-8", newline="") as handle:
        return {
            row["path"]: dt.datetime.fromisoformat(row["sent_at"]).timestamp()
            for row in csv.DictReader(handle)
        }


def load_sample(settings: Settings, sample_dir: Path = SAMPLE_DIR) -> list[Path]:
    """Put the shipped sample submissions in the landing folder (files already there stay),
    each with the modification time its sender saved it at."""
    sent = sample_sent_times(sample_dir)
    copied = []
    for source_dir in sorted(p for p in sample_dir.iterdir() if p.is_dir()):
        for file in sorted(source_dir.iterdir()):
            target = settings.landing_for(source_dir.name) / file.name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)
                saved = sent[file.relative_to(sample_dir).as_posix()]
                os.utime(target, (saved, saved))
                copied.append(target)
    return copied
