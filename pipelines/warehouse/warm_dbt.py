"""dbt made ready while the run's first steps work: the same `dbt build`, seconds sooner.

A dbt command costs three seconds before its first model: Python imports dbt and its adapter,
then dbt reads the project (its partial-parse state) and builds the graph. A run knows from
its start that it will call dbt once, after it has taken the new files in. So `welfare run`,
before it imports Dagster (or, for a run the daemon launches, the run's dbt resource as it is
set up), has :func:`start` launch a *warm* dbt process: it imports dbt and parses the project
at a lower priority on the other core while the run loads and reads and checks the files,
then waits for the one command of the run (the resource finds the one already started).

dagster-dbt still runs "dbt" as a command and reads its structured output: its executable is
`welfare-dbt` (:func:`client`), which hands the command line, environment and working
directory to the warm process and passes its output and exit code back, as dbt's own
command would. dbt runs there through its documented programmatic API (``dbtRunner``, given
the manifest it parsed, so the command does not parse again). When the environment the
project's configuration reads (WELFARE_*, DBT_TARGET) is not the one it was parsed with, dbt
parses again as usual. Without a warm process (none started,
it failed, it is busy) the client becomes the real `dbt` command.

The warm process serves one command, then ends; it ends too when the run's process does (its
standard input closes), and is stopped when the run's resources are torn down. In a run that is
a fork of `welfare worker` (dbt already imported) it is a fork of the run's process: only the
parse is left to do (pipelines.foundation.processes.fork_call).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pipelines.foundation.atomic import atomic_write, copy_file
from pipelines.foundation.processes import (
    Forked,
    can_fork_with,
    fork_call,
    process_alive,
    python_command,
    same_user,
)
from pipelines.foundation.settings import DBT_DIRECTORY_ENV, DBT_PROJECT_DIR, Settings
from pipelines.foundation.warm_process import yield_cpu

ADDRESS_ENV = "WELFARE_WARM_DBT"  # where the run's warm dbt listens (a Linux abstract socket)
PID_MARK = b"\x00welfare-dbt-pid "  # before dbt's output: the warm process's id
EXIT_MARK = b"\x00welfare-dbt-exit "  # after dbt's output: its exit code
PARTIAL_PARSE = "partial_parse.msgpack"
RUN_RESULTS = "run_results.json"  # what a dbt command says of each node it ran
RESULT_COMMANDS = {"build", "run", "test", "seed", "snapshot"}  # those writing run_results.json
SCRATCH_PREFIX = "welfare-dbt-"  # then the run's process id: a scratch folder in the temp folder
CONNECT_PATIENCE = 5.0  # seconds
ENDED_EARLY = "the warm dbt process ended before dbt finished"
_started: dict[tuple, WarmDbt] = {}  # by project and configuration: see start()


@dataclass
class WarmDbt:
    process: subprocess.Popen | Forked
    address: str
    scratch: Path
    log: BinaryIO

    def stop(self) -> None:
        for key in [key for key, warm in _started.items() if warm is self]:
            del _started[key]
        if os.environ.get(ADDRESS_ENV) == self.address:
            del os.environ[ADDRESS_ENV]
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdin:
            self.process.stdin.close()
        self.log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def parse_inputs(env: Mapping[str, str]) -> dict[str, str]:
    """What of an environment the project's parse depends on (its env_var() calls, the
    profile's target)."""
    return {
        k: v
        for k, v in env.items()
        if (k.startswith("WELFARE_") and k != ADDRESS_ENV) or k == "DBT_TARGET"
    }


def results_only(args: list[str], env: Mapping[str, str]) -> tuple[list[str], str | None]:
    """The command run without writing manifest.json, and where its run_results.json goes
    (written by the warm process, as dbt would), when dbt would write both there; else the
    command as given and None. The manifest is the parse's, already in memory: serialising
    it again costs a second of CPU at the end of a small run's build, on its critical path,
    and nobody reads the copy in a run's target (dagster-dbt reads the parse's)."""
    if not args or args[0] not in RESULT_COMMANDS or {"--write-json", "--no-write-json"} & {*args}:
        return args, None
    if env.get("DBT_WRITE_JSON") is not None:  # said in the environment: dbt's to follow
        return args, None
    target = option(args, "--target-path") or env.get("DBT_TARGET_PATH")
    if not target or not os.path.isabs(target):  # relative to the project: dbt's own rules
        return args, None
    return [args[0], "--no-write-json", *args[1:]], os.path.join(target, RUN_RESULTS)


def write_results(result: Any, path: str) -> None:
    """dbt's run results, as dbt itself would have written them after the command (the
    command's ``write_json`` recorded as dbt's: `dbt retry` reads it back), put in place
    whole or not at all."""
    result.args["write_json"] = True
    atomic_write(Path(path), lambda tmp: result.write(str(tmp)))


def option(args: Sequence[str], name: str) -> str | None:
    """The value a command line gives ``name`` (``--name value`` or ``--name=value``; the last
    one given, as dbt takes it)."""
    found = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith(f"{name}="):
            found = arg.split("=", 1)[1]
    return found


def said_as_dbt(message: str, args: Sequence[str], env: Mapping[str, str]) -> str:
    """An error of `welfare-dbt` itself, said as the dbt command says its errors: a structured
    log line when its output is JSON (dagster-dbt takes a failed command's errors from those,
    and a run's summary reads them: a full disk among them), else a line of text."""
    if (option(args, "--log-format") or env.get("DBT_LOG_FORMAT") or "").lower() != "json":
        return f"welfare-dbt: {message}\n"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    info = {"category": "", "code": "Z002", "extra": {}, "invocation_id": "", "level": "error"}
    info |= {"msg": f"Encountered an error:\n{message}", "name": "MainEncounteredError"}
    info |= {"pid": os.getpid(), "thread": "MainThread", "ts": now}
    return json.dumps({"data": {"exc": message}, "info": info}, ensure_ascii=False) + "\n"


def import_dbt() -> None:
    """Import dbt and the project's adapter (a process that will run dbt in a fork)."""
    for module in ("dbt.cli.main", "dbt.adapters.duckdb"):
        importlib.import_module(module)


def available() -> bool:
    return sys.platform.startswith("linux") and Path(sys.executable).with_name("dbt").exists()


def start(
    project_dir: Path,
    profiles_dir: Path,
    parsed_target: Path,
    env: Mapping[str, str],
    after: int | None = None,
) -> WarmDbt | None:
    """Launch the warm dbt for this run (``env``: what dbt will be called with, the paths of
    WELFARE_HOME included; ``parsed_target``: where the project's last parse is) and point
    `welfare-dbt` at it; None where it cannot be used. One launched earlier by this process
    for the same project and configuration, still waiting for its command, is used again
    (`welfare run` starts it before Dagster is imported, the run's dbt resource finds it).
    ``after``: the process id of a `dbt parse` writing ``parsed_target`` now (a new home,
    changed models): the warm dbt starts from its parse when it has ended, instead of
    parsing the whole project a second time beside it."""
    if not available():
        return None
    inputs = tuple(sorted(parse_inputs(env).items()))
    key = (str(project_dir), str(profiles_dir), str(parsed_target), inputs)
    waiting = _started.get(key)
    if waiting is not None and waiting.process.poll() is None:
        os.environ[ADDRESS_ENV] = waiting.address
        return waiting
    address = f"welfare-dbt-{os.getpid()}-{os.urandom(6).hex()}"
    _sweep_scratch()
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    log = (scratch / "warm.log").open("wb")
    where = [str(project_dir), str(profiles_dir), str(scratch), str(parsed_target), str(after or 0)]
    process: subprocess.Popen | Forked
    if can_fork_with("dbt.cli.main"):  # a fork of a standing process: dbt is imported here
        process = fork_call(_serve, [address, *where], env, stderr=log)
    else:
        process = subprocess.Popen(
            python_command("-m", __name__, address, *where),
            env=dict(env),
            stdin=subprocess.PIPE,  # closes when this process ends: the warm dbt ends too
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    os.environ[ADDRESS_ENV] = address
    _started[key] = warm = WarmDbt(process, address, scratch, log)
    return warm


def _sweep_scratch() -> None:
    """Remove the scratch folders of warm dbts whose run was killed with them (the process
    group of a run stopped by SIGKILL): each names its run's process, gone now. A warm dbt
    that ends otherwise removes its own."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]
        with contextlib.suppress(OSError, ValueError):
            if folder.stat().st_uid == os.getuid() and not process_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)


def start_for(settings: Settings, after: int | None = None) -> WarmDbt | None:
    """The warm dbt of a run in this home (started now, or the one started for it already);
    ``after``: see :func:`start`."""
    return start(
        DBT_PROJECT_DIR,
        DBT_PROJECT_DIR,
        settings.dbt_target_dir,
        {**os.environ, **settings.dbt_env()},
        after,
    )


def client() -> None:
    """`welfare-dbt`: the warm dbt of this run if there is one, else dbt itself; either runs
    in the home's dbt directory (Settings.dbt_directory: the profile's paths start there)."""
    args = sys.argv[1:]
    if directory := os.environ.get(DBT_DIRECTORY_ENV):
        os.chdir(directory)
    address = os.environ.get(ADDRESS_ENV)
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if not address:
            raise OSError("no warm dbt")
        _connect(connection, address)
        request = {"args": args, "env": dict(os.environ), "cwd": os.getcwd()}
        connection.sendall(json.dumps(request).encode() + b"\n")
        answer = connection.makefile("rb")
        first = answer.readline()
        if not first.startswith(PID_MARK):  # serving another command, or failed to start
            raise OSError("the warm dbt did not answer")
    except OSError:
        connection.close()
        dbt = str(Path(sys.executable).with_name("dbt"))
        os.execv(dbt, [dbt, *args])
    warm_pid = int(first[len(PID_MARK) :])
    code = 2
    out = sys.stdout.buffer
    last = b"\n"
    while line := answer.readline():
        if line.startswith(EXIT_MARK):
            code = int(line[len(EXIT_MARK) :])
            break
        out.write(line)
        out.flush()
        last = line
    else:
        # On a line of its own: the process may have died in the middle of one of dbt's.
        ended = said_as_dbt(ENDED_EARLY, args, os.environ).encode()
        out.write(ended if last.endswith(b"\n") else b"\n" + ended)
    out.flush()
    # dbt's adapter keeps the working database open until its process ends: the command ends
    # when the warm process has, as dbt's own command would.
    _wait_until_gone(warm_pid)
    sys.exit(code)


def _wait_until_gone(pid: int, patience: float = 60.0) -> None:
    """Until the process has ended with all its threads (its leader a zombie at most): the
    files its threads shared are closed by the last of them to end."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            threads = os.listdir(f"/proc/{pid}/task")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if threads == [str(pid)] and state in ("Z", "X"):
            return
        time.sleep(0.01)


def _connect(connection: socket.socket, address: str) -> None:
    """Connect, waiting a little for a warm dbt that was started a moment ago to listen (it
    binds its address before anything else); not there by then, it is not coming."""
    deadline = time.monotonic() + CONNECT_PATIENCE
    while True:
        try:
            connection.connect("\0" + address)
            return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def keep_parse(parsed: Path, target_dir: Path) -> None:
    """Leave a parse (dbt's partial_parse.msgpack) where the next dbt command of this home
    starts from. dbt parses the project whole when its profile or a variable the project reads
    (the day) is not the one of the parse it finds: every run of a new day would otherwise
    parse whole each time (seconds)."""
    kept = target_dir / PARTIAL_PARSE
    with contextlib.suppress(OSError):  # a cache: without it dbt parses whole, as before
        if parsed.exists() and (not kept.exists() or parsed.read_bytes() != kept.read_bytes()):
            copy_file(parsed, kept)


def _end_with_the_run(scratch: str) -> None:
    """End this process the moment the run's process ends (it never writes to our standard
    input: readable means closed), not after seconds more of importing dbt and parsing."""

    def watch() -> None:
        select.select([sys.stdin], [], [])
        shutil.rmtree(scratch, ignore_errors=True)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="end-with-the-run").start()


def _serve(
    address: str, project_dir: str, profiles_dir: str, scratch: str, parsed_target: str, after: str
) -> int:
    """Make dbt ready, then run the one command a client hands over (see the module's doc)."""
    yield_cpu()  # the run's process comes first: its dbt command comes seconds later
    _end_with_the_run(scratch)
    if directory := os.environ.get(DBT_DIRECTORY_ENV):
        os.chdir(directory)  # as the command will be: the profile's paths start there
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + address)
    listener.listen(1)
    from dbt.cli.main import dbtRunner  # dbt: seconds, paid while the run reads its files

    if int(after):
        _wait_until_gone(int(after), patience=600)  # the run's own parse of the project
    with contextlib.suppress(FileNotFoundError):  # the project's last parse: dbt reuses it
        shutil.copy2(Path(parsed_target) / PARTIAL_PARSE, Path(scratch) / PARTIAL_PARSE)
    parsed_for = parse_inputs(os.environ)
    parsed = dbtRunner().invoke(
        [
            "parse",
            "--quiet",
            "--project-dir",
            project_dir,
            "--profiles-dir",
            profiles_dir,
            "--target-path",
            scratch,
            # The parse is held in memory for the command: its manifest.json would only be
            # thrown away (a quarter of a second of the parse's CPU). The partial parse is
            # written as without it.
            "--no-write-json",
        ]
    )
    manifest = parsed.result if parsed.success else None
    if parsed.success:
        keep_parse(Path(scratch) / PARTIAL_PARSE, Path(parsed_target))
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [])
        if listener not in ready:  # the run's process ended, or its resources were torn down
            shutil.rmtree(scratch, ignore_errors=True)
            return 0
        connection, _ = listener.accept()
        if same_user(connection):
            break
        connection.close()  # an abstract socket has no file permissions: anyone may knock
    listener.close()  # one command: a second client gets no answer and runs dbt itself
    connection.sendall(PID_MARK + str(os.getpid()).encode() + b"\n")
    request = json.loads(connection.makefile("rb").readline())
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    if parse_inputs(os.environ) != parsed_for:
        manifest = None  # parsed for another configuration: dbt parses again
    sys.stdout.flush()
    os.dup2(connection.fileno(), 1)
    os.dup2(connection.fileno(), 2)
    try:
        args, results_path = results_only(request["args"], os.environ)
        sys.argv = ["dbt", *args]  # what dbt records as the command it ran
        result = dbtRunner(manifest=manifest).invoke(args)
        if results_path is not None and hasattr(result.result, "write"):
            write_results(result.result, results_path)
        code = 0 if result.success else (2 if result.exception is not None else 1)
    except BaseException as error:  # as dbt's own command would end: a message, code 2
        print(said_as_dbt(f"{type(error).__name__}: {error}", request["args"], os.environ), end="")
        code = 2
    sys.stdout.flush()
    sys.stderr.flush()
    connection.sendall(EXIT_MARK + str(code).encode() + b"\n")
    # Ended at once: the database dbt's adapter holds is closed with the process (the client
    # waits for it), and Python's own teardown of dbt would only cost seconds.
    shutil.rmtree(scratch, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(_serve(*sys.argv[1:7]))
