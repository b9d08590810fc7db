"""The run's dbt command through `welfare-dbt` and a warm dbt process answers as dbt's own
command would: the same output and exit code, a failure too; without a warm process it is
dbt itself; a warm process whose run ends does not stay behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pipelines.foundation.disk import mentions_disk_trouble
from pipelines.foundation.settings import DBT_PROJECT_DIR, Settings, dbt_executable
from pipelines.warehouse import warm_dbt

CLIENT = str(Path(sys.executable).with_name("welfare-dbt"))

pytestmark = pytest.mark.skipif(not warm_dbt.available(), reason="Linux only")


def _env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, **settings.dbt_env()}
    env.pop(warm_dbt.ADDRESS_ENV, None)
    return env


def _command(executable: str, settings: Settings, *args: str) -> list[str]:
    return [
        executable,
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(settings.work_dir / "warm_test_target"),
    ]


def _through_warm(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = _env(settings)
    warm = warm_dbt.start(DBT_PROJECT_DIR, DBT_PROJECT_DIR, settings.dbt_target_dir, env)
    try:
        return subprocess.run(
            _command(CLIENT, settings, *args),
            env={**env, warm_dbt.ADDRESS_ENV: warm.address},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        assert warm.process.poll() is not None or warm.process.wait(timeout=30) == 0
        warm.stop()


def test_warm_dbt_answers_as_dbt_does(new_home, tmp_path, monkeypatch):
    settings = new_home
    # Started from a folder where someone left a package of dbt's name: not imported.
    trap = tmp_path / "started_in"
    (trap / "dbt").mkdir(parents=True)
    (trap / "dbt" / "__init__.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w')\n")
    monkeypatch.chdir(trap)
    # Structured output, as dagster-dbt reads it line by line, naming what dbt itself names.
    listed = _through_warm(settings, "ls", "--select", "staging", "--log-format", "json")
    assert not (tmp_path / "imported").exists()
    # The warm dbt left its parse in the home: the next dbt command there (here dbt's own,
    # starting from that parse as a run's build does) does not parse the project whole again.
    target = settings.work_dir / "warm_test_target"
    shutil.copy2(settings.dbt_target_dir / warm_dbt.PARTIAL_PARSE, target / warm_dbt.PARTIAL_PARSE)
    direct = subprocess.run(
        _command(
            dbt_executable(),
            settings,
            "ls",
            "--select",
            "staging",
            "--output",
            "name",
            "--log-format",
            "json",
        ),
        env=_env(settings),
        cwd=settings.dbt_directory,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == direct.returncode == 0
    messages = [json.loads(line)["info"]["msg"] for line in listed.stdout.splitlines()]
    events = [json.loads(line) for line in direct.stdout.splitlines()]
    names = [e["data"]["msg"] for e in events if e["info"]["name"] == "PrintEvent"]
    assert "stg_ibasho_survey" in names
    assert all(any(message.endswith(f".{name}") for message in messages) for name in names)
    assert not [e["info"]["msg"] for e in events if e["info"]["name"] == "UnableToPartialParse"]
    # A command that fails ends with dbt's exit code and says why, and leaves what it ran in
    # run_results.json, where a run's summary reads what failed (this new home has no tables).
    (target / "manifest.json").unlink(missing_ok=True)  # what `ls` leaves
    failed = _through_warm(settings, "test", "--select", "unique_stg_submissions_entry_id")
    assert failed.returncode == 1  # dbt: a node failed
    assert "unique_stg_submissions_entry_id" in failed.stdout
    written = json.loads((target / warm_dbt.RUN_RESULTS).read_text())
    assert [(r["unique_id"].split(".")[2], r["status"]) for r in written["results"]] == [
        ("unique_stg_submissions_entry_id", "error")
    ]
    assert written["args"]["write_json"] is True  # as dbt records it: `dbt retry` reads it
    # The project's manifest stays the parse's: not written again beside the results.
    assert not (target / "manifest.json").exists()
    error = _through_warm(settings, "run-operation", "no_such_macro")
    assert error.returncode == 2  # dbt: an error before any node ran
    assert "no_such_macro" in error.stdout


def test_without_a_warm_process_it_is_dbt():
    """Nobody listening at the address given: the command is dbt's own."""
    env = {k: v for k, v in os.environ.items() if k != warm_dbt.ADDRESS_ENV}
    gone = {**env, warm_dbt.ADDRESS_ENV: "welfare-dbt-nobody-listens"}
    # --help, not --version: dbt's --version asks the package index for the latest release.
    usage = subprocess.run([CLIENT, "--help"], env=gone, capture_output=True, text=True)
    assert usage.returncode == 0 and "Usage: dbt" in usage.stdout, usage.stdout + usage.stderr


def test_a_warm_process_ends_with_its_run(new_home):
    """The run's process ends (killed, say) before calling dbt: its warm dbt ends too, and
    removes its scratch folder; one killed with its run is removed by the next run's start."""
    starter = (
        "import os, sys, time; from pathlib import Path; "
        "from pipelines.foundation.settings import DBT_PROJECT_DIR, Settings; "
        "from pipelines.warehouse import warm_dbt; s = Settings(Path(sys.argv[1])); "
        "w = warm_dbt.start(DBT_PROJECT_DIR, DBT_PROJECT_DIR, s.dbt_target_dir, "
        "{**os.environ, **s.dbt_env()}); print(w.process.pid, w.scratch, flush=True); time.sleep(600)"
    )
    run = subprocess.Popen(
        [sys.executable, "-c", starter, str(new_home.home)], stdout=subprocess.PIPE, text=True
    )
    pid, scratch = run.stdout.readline().split(maxsplit=1)
    warm_pid, scratch = int(pid), Path(scratch.strip())
    assert scratch.is_dir()
    run.kill()
    run.wait()
    deadline = time.monotonic() + 60
    while _running(warm_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(warm_pid)
    assert not scratch.exists()
    # Killed together (SIGKILL to the run's process group): the folders stay, naming a run
    # that is gone; the next warm dbt's start removes those, and only those.
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    left = Path(tempfile.mkdtemp(prefix=f"{warm_dbt.SCRATCH_PREFIX}{int(gone.stdout)}-"))
    alive = Path(tempfile.mkdtemp(prefix=f"{warm_dbt.SCRATCH_PREFIX}{os.getpid()}-"))
    warm_dbt._sweep_scratch()
    assert not left.exists() and alive.exists()
    alive.rmdir()


def _running(pid: int) -> bool:
    """Alive and not a zombie (a container's first process may never reap it)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def test_only_a_command_writing_results_to_a_known_folder_skips_the_manifest():
    """The warm dbt skips writing the manifest only where it knows where dbt would have put
    run_results.json (it writes that file itself): the folder dbt takes, the last one given
    in either form, else the environment's; anything else is the command as given."""
    env = {"DBT_TARGET_PATH": "/runs/env"}
    args, results = warm_dbt.results_only(["build", "--select", "a b"], env)
    assert args == ["build", "--no-write-json", "--select", "a b"]
    assert results == "/runs/env/run_results.json"
    both = ["test", "--target-path=/runs/a", "--target-path", "/runs/b"]
    assert warm_dbt.results_only(both, env)[1] == "/runs/b/run_results.json"
    assert warm_dbt.results_only([*both, "--target-path=/runs/c"], env)[1] == (
        "/runs/c/run_results.json"
    )
    # A flag left without its value stays last: dbt says what is wrong with it, as without us.
    assert warm_dbt.results_only(["test", "--select"], env)[0] == [
        "test",
        "--no-write-json",
        "--select",
    ]
    for unchanged in (
        ["build", "--target-path", "relative/to/the/project"],
        ["build", "--write-json"],
        ["build", "--no-write-json"],
        ["ls", "--select", "staging"],
        ["compile"],
    ):
        assert warm_dbt.results_only(unchanged, env) == (unchanged, None)
    assert warm_dbt.results_only(["build"], {}) == (["build"], None)
    said_in_env = {**env, "DBT_WRITE_JSON": "false"}
    assert warm_dbt.results_only(["build"], said_in_env) == (["build"], None)


def test_an_error_of_its_own_is_said_as_dbt_says_errors():
    """A command asked for JSON logs (as dagster-dbt asks) gets welfare-dbt's own errors as a
    dbt error event: dagster-dbt puts those in the step's error, and a full disk there makes
    the run's summary say DISK FULL. Asked for text, a line of text."""
    full = "OSError: [Errno 28] No space left on device: '/home/work/run_results.json'"
    line = warm_dbt.said_as_dbt(full, ["build"], {"DBT_LOG_FORMAT": "json"})
    event = json.loads(line)
    assert event["info"]["level"] == "error"
    assert event["info"]["name"] == "MainEncounteredError"
    assert full in event["info"]["msg"]
    assert mentions_disk_trouble(event["info"]["msg"], Path("/"))
    assert json.loads(warm_dbt.said_as_dbt(full, ["build", "--log-format", "json"], {}))
    assert json.loads(warm_dbt.said_as_dbt(full, ["build"], {"DBT_LOG_FORMAT": "JSON"}))
    assert warm_dbt.said_as_dbt(full, ["build"], {}) == f"welfare-dbt: {full}\n"
