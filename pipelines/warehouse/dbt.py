"""Running dbt for a WELFARE_HOME: the command line, the environment, and the parsed project.

dbt runs as its own process (the interpreter's environment's ``dbt``, so a cron or systemd
`welfare run` finds it), with its paths and the engine's target from the settings. The
project is parsed once per change of its files (4–8 s): :func:`parse_project` starts a parse
when one is needed and returns at once; :meth:`ProjectParse.manifest` waits for it (`welfare
run` imports Dagster meanwhile, on the other core).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipelines.foundation.atomic import write_text
from pipelines.foundation.settings import DBT_PROJECT_DIR, Settings, dbt_executable
from pipelines.warehouse.fingerprints import dbt_fingerprint
from pipelines.warehouse.warm_dbt import RUN_RESULTS

MANIFEST = "manifest.json"
PARSED_FOR = "manifest.fingerprint"  # the project files and target a manifest was parsed from


def dbt_run_dir(settings: Settings, run_id: str) -> Path:
    """Where one Dagster run's dbt invocation writes its artefacts (run_results.json)."""
    return settings.dbt_target_dir / "runs" / run_id


def failed_nodes(settings: Settings, run_id: str, limit: int = 3) -> list[str]:
    """What failed in a run's dbt build, as a person reads it: each model or test that failed
    and the first line of its error (none when dbt left no results)."""
    try:
        results = json.loads((dbt_run_dir(settings, run_id) / RUN_RESULTS).read_text())
    except (OSError, ValueError):
        return []
    failed = []
    for node in results.get("results", []):
        if node.get("status") not in ("error", "fail", "runtime error"):
            continue
        said = [
            line.strip()
            for line in (node.get("message") or "").splitlines()
            if line.strip() and not line.strip().startswith(("Runtime Error in", "Failure in"))
        ]
        name = _node_name(str(node.get("unique_id", "")))
        failed.append(f"{name}: {said[0][:200] if said else node.get('status')}")
    return failed[:limit] + ([f"… {len(failed) - limit} more"] if len(failed) > limit else [])


def _node_name(unique_id: str) -> str:
    """A node's name in its unique id: "<type>.<project>.<name>", a hash after a generic
    test's name, a unit test's name after its model's."""
    parts = unique_id.split(".")
    if parts[0] == "unit_test":
        return parts[-1]
    return parts[2] if len(parts) > 2 else unique_id


def dbt_command(
    settings: Settings,
    args: list[str],
    quiet: bool = True,
    target_path: Path | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one dbt invocation for ``settings``' home (run it
    in ``settings.dbt_directory``)."""
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


def dbt_by_hand(settings: Settings, args: list[str]) -> int:
    """dbt as a person types it, for ``settings``' home: its arguments as given (any command,
    `debug` and `--help` too); the project, profiles and paths from the environment."""
    env = {**os.environ, **settings.dbt_env()}
    return subprocess.run(
        [dbt_executable(), *args], env=env, cwd=settings.dbt_directory, check=False
    ).returncode


def run_dbt(
    settings: Settings,
    args: list[str],
    quiet: bool = True,
    capture: bool = True,
    target_path: Path | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
) -> subprocess.CompletedProcess:
    command, env = dbt_command(settings, args, quiet, target_path, project_dir)
    return subprocess.run(
        command,
        env=env,
        cwd=settings.dbt_directory,
        capture_output=capture,
        text=True,
        check=False,
    )


@dataclass
class ProjectParse:
    """The dbt project parsed for a home: done already, or a `dbt parse` still running."""

    path: Path  # the manifest
    process: subprocess.Popen | None
    fingerprint: str

    @property
    def running(self) -> int | None:
        """The process id of the `dbt parse` still writing the manifest, if any."""
        return self.process.pid if self.process is not None else None

    def manifest(self) -> Path:
        """The manifest, once the parse (if any) has finished; raises if it failed."""
        if self.process is not None:
            stdout, stderr = self.process.communicate()
            if self.process.returncode != 0 or not self.path.exists():
                raise RuntimeError(f"dbt parse failed:\n{stdout}\n{stderr}")
            write_text(self.path.with_name(PARSED_FOR), self.fingerprint)
            self.process = None
        return self.path


def parse_project(settings: Settings) -> ProjectParse:
    """Start parsing the dbt project for ``settings`` unless its manifest is up to date."""
    manifest = settings.dbt_target_dir / MANIFEST
    stamp = settings.dbt_target_dir / PARSED_FOR
    fingerprint = f"{settings.engine.dbt_target}:{dbt_fingerprint()}"  # parsed for a target
    if manifest.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return ProjectParse(manifest, None, fingerprint)
    command, env = dbt_command(settings, ["parse"])
    process = subprocess.Popen(
        command,
        env=env,
        cwd=settings.dbt_directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return ProjectParse(manifest, process, fingerprint)


def manifest_of(settings: Settings) -> Path:
    """The dbt manifest for ``settings``, parsed now if it is not up to date."""
    return parse_project(settings).manifest()
