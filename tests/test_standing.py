"""A standing process (`welfare worker`): a command handed to it runs in a fork of it, and for
whoever started the command nothing differs but the time — its output, exit status, working
folder, environment and standard input are its own, Ctrl-C and SIGKILL reach it as they would a
process of its own, and a command the standing process cannot stand in for (other settings,
changed code) runs by itself. The first tests use a small standing process of the foundation
module alone; the last, the real `welfare worker` with a real run."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.foundation.standing import address
from tests.conftest import ward_file

# A standing process for the key argv[1], its code the files under argv[2]; each command's
# first argument says what its fork does.
STANDING = r"""
import os, subprocess, sys, time
from pathlib import Path
from pipelines.foundation import standing

started_with = dict(os.environ)
os.environ["GX_ANALYTICS_ENABLED"] = "False"  # as a library may, when it is imported

def run(argv):
    if argv[1] == "echo":
        print("out", os.getcwd(), os.environ.get("STANDING_TEST_VALUE"), sys.stdin.read().strip(),
              os.getppid(), oct(os.umask(0)))
        print("err", file=sys.stderr)
        return int(argv[2])
    if argv[1] == "sleep":  # a child of its own too, as a run has dbt
        child = subprocess.Popen(["sleep", "120"])
        Path(argv[2]).write_text(f"{os.getpid()} {child.pid}")
        try:
            time.sleep(120)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            child.kill()
            return 130
    return 0

sys.exit(standing.serve(
    sys.argv[1], lambda: standing.code_fingerprint([Path(sys.argv[2])]), run,
    keep_going=lambda idle: idle < 300, say=lambda line: print(line, flush=True),
    env=started_with,
))
"""
# A command handed over: its exit status, or 99 when the standing process did not take it.
COMMAND = r"""
import sys
from pathlib import Path
from pipelines.foundation import standing
code = standing.hand_over(sys.argv[1], sys.argv[3:], standing.code_fingerprint([Path(sys.argv[2])]))
sys.exit(99 if code is None else code)
"""
NOT_TAKEN = 99


class Standing:
    def __init__(self, tmp_path: Path) -> None:
        self.key = f"test-{tmp_path}"
        self.code = tmp_path / "code"
        self.code.mkdir()
        (self.code / "module.py").write_text("VALUE = 1\n")
        self.log = tmp_path / "standing.log"
        self.process = self.start()

    def start(self) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", STANDING, self.key, str(self.code)],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        self.wait_for("standing for", 1)
        return process

    def wait_for(self, said: str, times: int) -> None:
        deadline = time.monotonic() + 30
        while self.log.read_text().count(said) < times:
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def command(self, *args: str, env: dict | None = None, **options) -> subprocess.Popen:
        streams = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        return subprocess.Popen(
            [sys.executable, "-c", COMMAND, self.key, str(self.code), "cmd", *args],
            env={**os.environ, **(env or {})},
            text=True,
            **{**streams, **options},
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture
def standing(tmp_path):
    served = Standing(tmp_path)
    yield served
    served.stop()


def kita_places_2024(settings) -> int:
    """北区's places in FY2024, as published."""
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        [(places,)] = con.execute(
            "select sum(places) from marts.place_counts "
            "where fiscal_year = 2024 and ward_name = '北区'"
        ).fetchall()
    return int(places)


def gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":  # ended, not yet collected
                return True
        time.sleep(0.05)
    return False


def test_a_command_runs_in_a_fork_with_its_own_streams_folder_environment_and_status(
    standing, tmp_path
):
    folder = tmp_path / "where the command was started"
    folder.mkdir()
    command = standing.command(
        "echo", "3", env={"STANDING_TEST_VALUE": "mine"}, cwd=folder, umask=0o077
    )
    out, err = command.communicate("its input\n", timeout=30)
    assert command.returncode == 3  # its exit status, not the standing process's
    assert out.split() == [
        "out",
        *str(folder).split(),
        "mine",
        "its",
        "input",
        str(standing.process.pid),  # a fork of the standing process, not a new one
        "0o77",  # its umask: what it writes is as private as it would have been
    ]
    assert err == "err\n"
    assert "`cmd echo 3`" in standing.log.read_text()  # the standing process says what it ran

    # Output that cannot be written fails the command as it fails a new Python process (at
    # the write with PYTHONUNBUFFERED, else at the last flush).
    with open("/dev/full", "w") as full:
        failed = standing.command("echo", "0", stdout=full)
        failed.communicate("", timeout=30)
        alone = subprocess.run([sys.executable, "-c", "print('out')"], stdout=full, check=False)
    assert failed.returncode == alone.returncode != 0


def test_a_command_with_other_settings_is_not_taken(standing):
    # WELFARE_* (and Python's, dbt's, Dagster's...) are read as the code starts: a fork of a
    # process started with others would not behave as a new process does.
    command = standing.command("echo", "0", env={"WELFARE_SOMETHING": "else"})
    command.communicate("", timeout=30)
    assert command.returncode == NOT_TAKEN
    standing.wait_for("other settings (WELFARE_SOMETHING)", 1)  # the log says why


def test_garbage_on_the_socket_is_dropped_and_the_next_command_served(standing):
    for payload in (b"not json", b"[" * 200_000 + b"]" * 200_000, b'{"code": 5}'):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect("\0" + address(standing.key))
            conn.sendall(struct.pack(">I", len(payload)) + payload)
            conn.settimeout(10)
            assert conn.recv(100) in (b"", b"not served\n")
    command = standing.command("echo", "0")
    command.communicate("", timeout=30)
    assert command.returncode == 0 and standing.process.poll() is None


def test_ctrl_c_reaches_the_fork_and_a_killed_command_takes_its_fork_with_it(standing, tmp_path):
    told = tmp_path / "interrupted"
    command = standing.command("sleep", str(told), start_new_session=True)
    while not told.exists():
        assert command.poll() is None
        time.sleep(0.05)
    os.kill(command.pid, signal.SIGINT)  # as a terminal's Ctrl-C
    out, _ = command.communicate(timeout=30)
    assert command.returncode == 130 and "interrupted" in out

    killed = tmp_path / "killed"
    command = standing.command("sleep", str(killed), start_new_session=True)
    while not killed.exists() or not killed.read_text():
        time.sleep(0.05)
    fork, child = map(int, killed.read_text().split())
    os.killpg(command.pid, signal.SIGKILL)  # the command's process group, as an operator would
    command.wait(timeout=30)
    assert gone(fork) and gone(child)  # nothing of it runs on for nobody
    assert standing.process.poll() is None  # and the standing process serves the next
    again = standing.command("echo", "0")
    again.communicate("", timeout=30)
    assert again.returncode == 0


def test_changed_code_makes_it_start_again_and_a_second_one_is_refused(standing):
    second = subprocess.run(
        [sys.executable, "-c", STANDING, standing.key, str(standing.code)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1 and "already serves" in second.stdout

    (standing.code / "module.py").write_text("VALUE = 2\n")  # the code changed
    standing.wait_for("starting again", 1)
    standing.wait_for("standing for", 2)  # the same process, its code imported again
    assert standing.process.poll() is None
    # ... with the environment it was first started with, not what its libraries set since
    command = standing.command("echo", "0")
    out, _ = command.communicate("", timeout=30)
    assert command.returncode == 0 and out.split()[-2] == str(standing.process.pid)


@pytest.mark.background  # a standing process importing Dagster, dbt and GX, and a run
def test_welfare_worker_runs_the_home_s_runs_in_its_forks(published_home, tmp_path):
    """`welfare worker` beside a published home: `welfare run` is served by a fork of it and
    says what it always says; the file is loaded and published; nothing new costs nothing."""
    settings = published_home
    assert kita_places_2024(settings) > 1
    env = {**os.environ, "WELFARE_HOME": str(settings.home), "DO_NOT_TRACK": "1"}
    welfare = str(Path(sys.executable).with_name("welfare"))
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [welfare, "worker", "--idle", "600"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while "standing for" not in log.read_text():
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        ward_file(  # 北区's FY2024 survey again, one place
            settings,
            "北区_居場所_追加.csv",
            ["R6,北区,曽根崎地域,K-900,新しい居場所,高齢者サロン,12,240"],
        )
        run = subprocess.run([welfare, "run"], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "SUCCEEDED" in run.stdout and "1 new — 1 loaded" in run.stdout
        assert kita_places_2024(settings) == 1  # 北区's newer survey, published
        nothing = subprocess.run([welfare, "run"], env=env, capture_output=True, text=True)
        assert nothing.returncode == 0, nothing.stdout + nothing.stderr
        served = [line for line in log.read_text().splitlines() if "`welfare run` (process" in line]
        assert len(served) == 2 and all("exit 0" in line for line in served), log.read_text()
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    assert worker.returncode == 0
