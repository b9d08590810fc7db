"""Processes: this project's own Python children, and whether a process is still running (how
work left behind by a killed one is recognised)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO


def python_command(*args: str) -> list[str]:
    """A Python process of this environment running ``args`` (`-m module …`, `-c code …`),
    which imports nothing from the folder it was started in: `-c` and `-m` put that folder
    first on the import path, and a `dbt/` or `great_expectations/` folder in an operator's
    working directory (a shared /tmp) would run as the library (-P, Python 3.11)."""
    return [sys.executable, "-P", *args]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def process_started(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, Linux's /proc), or None where that
    is not known: with the pid, which process it is (a pid is reused once its process ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])  # field 22 of stat(5); the split starts at field 3
    except (OSError, ValueError, IndexError):
        return None


def same_process_running(pid: int, started: int | None) -> bool:
    """Whether the process that was ``pid``, started at ``started`` (process_started), still
    runs, and not a later one given the same pid."""
    if not process_alive(pid):
        return False
    now = process_started(pid)
    return started is None or now is None or now == started


def process_age() -> float | None:
    """Seconds since this process started (Linux's /proc), or None where that is not known:
    the part of a command's time spent before its own code ran (Python, imports)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start, in clock ticks
        return float(Path("/proc/uptime").read_text().split()[0]) - started
    except (OSError, ValueError, IndexError):
        return None


def peer_uid(connection: socket.socket) -> int:
    """The user of the process at the other end of a Unix socket (Linux's SO_PEERCRED)."""
    credentials = connection.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
    )
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return uid


def same_user(connection: socket.socket) -> bool:
    """Whether the process at the other end of a Unix socket runs as this one's user: an
    abstract socket has no file permissions, anyone may connect to it or listen on it."""
    return peer_uid(connection) == os.getuid()


def signals_as_new() -> None:
    """In a forked child: signals handled as in a new Python process (whatever handlers the
    process it was forked from had set)."""
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def can_fork_with(module: str) -> bool:
    """Whether a child can be made by forking this process, with ``module`` already imported
    here: Linux, and no thread but this one (a fork copies only the thread that forks; one
    holding a lock at that moment would leave it held for ever in the child)."""
    return (
        sys.platform.startswith("linux")
        and module in sys.modules
        and (threading.active_count() == 1)
    )


class Forked:
    """A child forked from this process running a function (:func:`fork_call`), with the
    part of :class:`subprocess.Popen` this project uses: ``stdin``, ``stdout``, ``poll``,
    ``wait``, ``kill`` and ``returncode``."""

    def __init__(self, pid: int, stdin: IO[bytes], stdout: IO[bytes] | None) -> None:
        self.pid = pid
        self.stdin: IO[bytes] | None = stdin
        self.stdout: IO[bytes] | None = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def fork_call(
    function: Callable[..., object],
    args: Sequence[object],
    env: Mapping[str, str],
    stderr: IO | None = None,
    answers: bool = False,
) -> Forked:
    """``function(*args)`` in a child forked from this process (see :func:`can_fork_with`),
    as a new Python process would run it: ``env`` its environment, standard input a pipe from
    this process (closed when this process ends), standard output a pipe to it with
    ``answers`` (else discarded), standard error ``stderr`` (else this process's). It exits
    with the function's return value when that is an int (else 0); signals are handled as in a
    new process."""
    stdin_read, stdin_write = os.pipe()
    out_read, out_write = os.pipe() if answers else (-1, os.open(os.devnull, os.O_WRONLY))
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signals_as_new()
            os.dup2(stdin_read, 0)
            os.dup2(out_write, 1)
            if stderr is not None:
                os.dup2(stderr.fileno(), 2)
            for fd in {stdin_read, stdin_write, out_read, out_write} - {-1}:
                os.close(fd)
            os.environ.clear()
            os.environ.update(env)
            returned = function(*args)
            code = returned if isinstance(returned, int) else 0
        except BaseException:
            with contextlib.suppress(Exception):
                traceback.print_exc()
        finally:
            os._exit(code)
    os.close(stdin_read)
    os.close(out_write)
    return Forked(pid, os.fdopen(stdin_write, "wb"), os.fdopen(out_read, "rb") if answers else None)
