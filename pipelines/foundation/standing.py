"""A standing process: a program's libraries imported once, each command run in a fork of it.

A `welfare run` from a new process spends seconds before its first file: Python imports
Dagster, great-expectations, dbt and matplotlib (about 3.5 s of CPU) on a machine of two cores.
A *standing* process (:func:`serve`) imports them once and waits. A command that finds it
(:func:`hand_over`) sends it its arguments, environment, working directory and its three
standard streams (as file descriptors, over a Unix socket); the standing process forks, and the
fork becomes that command — its own process group, the command's streams, environment and
folder — with everything already imported. The fork's exit status is sent back and the command
exits with it, so for whoever started the command nothing differs but the time.

What a fork must share with a new process for the two to behave alike is the *fingerprint*
(:func:`code_fingerprint`, :func:`env_fingerprint`): the interpreter, the installed packages,
every file of the code, and the environment variables read when Python or the code starts. A
command whose fingerprint differs is not served: it runs in its own process, as if no standing
process were there. When its own code changes, the standing process starts itself again (it
then imports the new code).

The fork takes the command's umask, priority and resource limits too; a command whose
priority or limits the standing process cannot give (higher than its own) is not served.
Signals sent to the command (Ctrl-C, SIGTERM) are passed on to the fork's process group, as a
terminal would send them; when the command ends without waiting for its fork (killed by
SIGKILL), the fork's group is killed. Only a process of the same user is served or trusted
(the peer's credentials on the socket). A command not served runs by itself, and the standing
process says why in its log. Linux only (abstract sockets, SCM_RIGHTS).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import hashlib
import io
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.foundation.processes import peer_uid, same_user, signals_as_new

_LENGTH = struct.Struct(">I")
MAX_REQUEST = 4 * 1024 * 1024  # bytes: arguments and environment, far above any real one
# Seconds a command has to send its request whole: it sends a few kilobytes at once, and the
# standing process reads one request at a time.
REQUEST_PATIENCE = 1.0
ANSWER_PATIENCE = 10.0  # seconds a command waits to be taken before it runs by itself
# What a restarted standing process is given: the descriptor of the socket it listens on, kept
# open across the restart (nobody else can take the name meanwhile).
LISTENER_ENV = "STANDING_LISTENER_FD"
LIMITS = tuple(
    getattr(resource, name)
    for name in (
        "RLIMIT_AS",
        "RLIMIT_CORE",
        "RLIMIT_CPU",
        "RLIMIT_DATA",
        "RLIMIT_FSIZE",
        "RLIMIT_NOFILE",
        "RLIMIT_NPROC",
        "RLIMIT_STACK",
    )
)
# Environment variables read when Python starts (PYTHON*, locale, time zone) or read by the
# code or its libraries when imported (settings, Dagster, dbt, GX, matplotlib, temp folder).
ENV_PREFIXES = ("WELFARE_", "DAGSTER_", "DBT_", "GX_", "PYTHON", "LC_", "MPL")
ENV_NAMES = frozenset({"DO_NOT_TRACK", "LANG", "LANGUAGE", "TZ", "TMPDIR", "HOME"})
SKIPPED_FOLDERS = frozenset({"__pycache__", ".git"})
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
WATCH_EVERY = 2.0  # seconds between two looks at the code while waiting


def available() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds")


def address(key: str) -> str:
    """The abstract socket of the standing process for ``key`` (a home's path)."""
    return "welfare-standing-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def code_fingerprint(roots: Iterable[Path]) -> str:
    """The interpreter, the installed packages (their folder changes when one is added,
    removed or upgraded) and every file under ``roots`` (path, size, modification time)."""
    digest = hashlib.sha256()
    digest.update(f"{sys.executable}\0{sys.version}\0".encode())
    for folder in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        with contextlib.suppress(OSError):
            digest.update(f"{folder}\0{os.stat(folder).st_mtime_ns}\0".encode())
    for root in roots:
        for path in sorted(_files(Path(root))):
            with contextlib.suppress(OSError):
                stat = path.stat()
                digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _files(root: Path) -> Iterable[Path]:
    if root.is_file():
        yield root
        return
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_FOLDERS]
        for name in names:
            yield Path(folder, name)


def env_fingerprint(env: Mapping[str, str]) -> str:
    """The environment variables that must be equal for a fork to behave as a new process."""
    return hashlib.sha256(json.dumps(sorted(_chosen(env).items())).encode()).hexdigest()


def _chosen(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}


# ---------------------------------------------------------------- the command's side


def hand_over(key: str, argv: Sequence[str], code: str) -> int | None:
    """Run this command (``argv``) in a fork of the standing process for ``key``, if one is
    there, answers within :data:`ANSWER_PATIENCE` and shares this process's fingerprint
    (``code``: :func:`code_fingerprint`); its exit status, or None when it was not run there
    (run it here)."""
    if not available():
        return None
    env = dict(os.environ)
    try:
        request = {
            "code": code,
            "env_fingerprint": env_fingerprint(env),
            "argv": list(argv),
            "env": env,
            "cwd": os.getcwd(),  # gone (deleted): run here, where Python says so
            "streams": [_stream_setup(s) for s in (sys.stdin, sys.stdout, sys.stderr)],
            "umask": _umask(),
            "nice": os.getpriority(os.PRIO_PROCESS, 0),
            "limits": [list(resource.getrlimit(limit)) for limit in LIMITS],
        }
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(ANSWER_PATIENCE)
        conn.connect("\0" + address(key))
    except OSError:
        return None
    with conn:
        try:
            if not same_user(conn):  # somebody else's socket under that name
                return None
            with _standard_fds() as fds:
                _send(conn, json.dumps(request).encode(), fds)
                first = _read_line(conn)
        except OSError:  # no answer in time (a stopped or busy standing process): run here
            return None
        if not first.startswith("pid "):
            return None  # not taken (other code or settings): nothing was run
        conn.settimeout(None)  # the run takes what it takes
        return _wait_for_fork(conn)


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _wait_for_fork(conn: socket.socket) -> int:
    """Pass this process's signals on to the fork until the standing process says how the
    fork ended; that is this command's exit status."""
    previous = {}

    def pass_on(number: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(f"signal {number}\n".encode())

    for number in FORWARDED:
        with contextlib.suppress(ValueError, OSError):  # not the main thread: not passed on
            previous[number] = signal.signal(number, pass_on)
    try:
        line = _read_line(conn)
    except OSError:
        line = ""
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    word, _, value = line.partition(" ")
    if word == "exit" and value.lstrip("-").isdigit():
        return int(value)
    if word == "killed" and value.isdigit():
        return 128 + int(value)
    return 1  # the standing process ended while the fork ran


@contextlib.contextmanager
def _standard_fds():
    """Descriptors 0, 1 and 2 to send (/dev/null for one that is closed)."""
    opened = []
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            opened.append(null)
            fds.append(null)
    try:
        yield fds
    finally:
        for fd in opened:
            os.close(fd)


def _stream_setup(stream: object) -> dict[str, str | None]:
    return {
        "encoding": getattr(stream, "encoding", None),
        "errors": getattr(stream, "errors", None),
    }


# ---------------------------------------------------------------- the standing process


@dataclass(frozen=True)
class Fork:
    pid: int
    command: str
    started: float


@dataclass(frozen=True)
class Own:
    """What the standing process compares a request with."""

    code: str  # its code's fingerprint when it started
    env: Mapping[str, str]  # the environment it started with
    env_fingerprint: str


def serve(
    key: str,
    code: Callable[[], str],
    run: Callable[[list[str]], int],
    keep_going: Callable[[float], bool] = lambda idle: True,
    say: Callable[[str], object] = print,
    env: Mapping[str, str] | None = None,
) -> int:
    """Serve commands for ``key`` until stopped (SIGTERM, SIGINT) or ``keep_going(idle)``
    says no (asked every few seconds; ``idle``: seconds since a command last ran): each request
    is forked and the fork calls ``run(argv)``; ``say`` tells each command's end, and why one
    was not served. ``code``: the code's fingerprint now; when it changes, the process starts
    itself again with the same command line and environment (importing the new code). Call
    with everything the commands need already imported, and no thread but this one; ``env``:
    the environment this process started with (libraries may have set variables as they were
    imported), the one commands must share. Returns an exit status: 0 stopped, 1 another
    process holds the name of ``key``."""
    if threading.active_count() > 1:
        raise RuntimeError("a standing process forks: it must have no thread but its own")
    started_env = dict(os.environ if env is None else env)
    started_env.pop(LISTENER_ENV, None)
    own = Own(code(), started_env, env_fingerprint(started_env))
    listener = _listener(key, say)
    if listener is None:
        return 1
    gc.collect()
    gc.freeze()  # what is imported stays shared with the forks, and their collections skip it
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    stopping: list[int] = []

    def stop(number: int, frame: object) -> None:
        stopping.append(number)

    signal.signal(signal.SIGCHLD, lambda number, frame: None)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.set_wakeup_fd(wake_write)
    forks: dict[socket.socket, Fork] = {}  # the command's connection → its fork
    restart = False
    say(f"standing for {key}: each `welfare run` there is a fork of this process ({os.getpid()})")
    looked = busy = time.monotonic()
    while not stopping:
        readable, _, _ = select.select([listener, wake_read, *forks], [], [], WATCH_EVERY)
        if wake_read in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 512)
        _reap(forks, say)
        for conn in [c for c in readable if c in forks]:
            _from_command(conn, forks)
        if listener in readable:
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                keep_out = [listener, wake_read, wake_write]
                _serve_one(conn, own, run, forks, keep_out, say)
        if time.monotonic() - looked >= WATCH_EVERY:
            looked = time.monotonic()
            restart = restart or code() != own.code
            if forks:
                busy = looked
            if not keep_going(looked - busy):
                break
        if restart and not forks:
            break
    if not (restart and not stopping):
        listener.close()  # nobody new is served; forks still going are waited for
    while forks:
        with contextlib.suppress(InterruptedError):
            select.select([wake_read, *forks], [], [], WATCH_EVERY)
        with contextlib.suppress(BlockingIOError):
            os.read(wake_read, 512)
        for conn in [c for c in forks if _readable(c)]:
            _from_command(conn, forks)
        _reap(forks, say)
    signal.set_wakeup_fd(-1)
    if restart and not stopping:
        say("the code changed: starting again with the new code")
        sys.stdout.flush()
        sys.stderr.flush()
        listener.set_inheritable(True)
        os.execve(
            sys.executable,
            [sys.executable, *sys.orig_argv[1:]],
            {**started_env, LISTENER_ENV: str(listener.fileno())},
        )
    return 0


def _listener(key: str, say: Callable[[str], object]) -> socket.socket | None:
    """The socket to listen on: the one kept across a restart, else one bound to ``key``'s
    name (None, said, when another process holds it)."""
    name = "\0" + address(key)
    inherited = os.environ.pop(LISTENER_ENV, "")
    if inherited.isdigit():
        with contextlib.suppress(OSError):
            kept = socket.socket(fileno=int(inherited))
            kept.set_inheritable(False)
            if kept.family == socket.AF_UNIX and kept.getsockname() in (name, name.encode()):
                return kept
            kept.close()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(name)
    except OSError:
        listener.close()
        holder = _holder(name)
        if holder is None or holder == os.getuid():
            say(f"a standing process already serves {key}")
        else:  # an abstract name has no permissions: anyone may take it first
            say(f"another user's process (uid {holder}) holds the name {key} is served under")
        return None
    listener.listen(16)
    return listener


def _holder(name: str) -> int | None:
    """The user of the process listening on ``name``, if one answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            probe.connect(name)
            return peer_uid(probe)
    except OSError:
        return None


def _readable(conn: socket.socket) -> bool:
    return bool(select.select([conn], [], [], 0)[0])


def _serve_one(
    conn: socket.socket,
    own: Own,
    run: Callable[[list[str]], int],
    forks: dict[socket.socket, Fork],
    keep_out: list[socket.socket | int],
    say: Callable[[str], object],
) -> None:
    """Read one request and fork for it, or say why not (to the command: why it runs by
    itself; in the log, which of its settings differ)."""
    fds: list[int] = []
    try:
        if not same_user(conn):
            conn.close()
            return
        payload, fds = _receive(conn, time.monotonic() + REQUEST_PATIENCE)
        request = _checked(json.loads(payload))
        why = _why_not(request, own, len(fds))
        if why:
            say(f"not served: `{' '.join(request['argv'])}`, {why}")
            conn.sendall(b"not served\n")
            conn.close()
            return
        conn.settimeout(None)
        command, started = " ".join(request["argv"]), time.monotonic()
        pid = os.fork()
        if pid == 0:  # the fork: becomes the command
            # The fork keeps its command's connection open without using it: should this
            # process end first, the command still waits for the fork's end (its EOF).
            _become(request, fds, run, [*keep_out, *forks])
        forks[conn] = Fork(pid, command, started)
        try:
            conn.sendall(f"pid {pid}\n".encode())
        except OSError:  # the command is gone already: so is its fork
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
    except Exception:  # garbage, cut short, too deep, too slow: that command runs by itself
        if conn not in forks:
            conn.close()
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _checked(request: object) -> dict:
    """A request with the fields and types a fork needs, or ValueError."""
    shapes = {
        "code": str,
        "env_fingerprint": str,
        "argv": list,
        "env": dict,
        "cwd": str,
        "streams": list,
        "umask": int,
        "nice": int,
        "limits": list,
    }
    if not isinstance(request, dict) or any(
        not isinstance(request.get(field), shape) for field, shape in shapes.items()
    ):
        raise ValueError("not a request")
    texts = [*request["argv"], *request["env"], *request["env"].values()]
    if not request["argv"] or not all(isinstance(text, str) for text in texts):
        raise ValueError("not a request")
    if len(request["streams"]) != 3 or not all(isinstance(s, dict) for s in request["streams"]):
        raise ValueError("not a request")
    limits = request["limits"]
    if len(limits) != len(LIMITS) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, int) for v in pair)
        for pair in limits
    ):
        raise ValueError("not a request")
    return request


def _why_not(request: dict, own: Own, fds: int) -> str:
    """Why the standing process cannot stand in for a new process of this command ('' if
    it can)."""
    if request["code"] != own.code:
        return "started with other code or packages (this process starts again when its own change)"
    if request["env_fingerprint"] != own.env_fingerprint or fds != 3:
        theirs, mine = _chosen(request["env"]), _chosen(own.env)
        differ = sorted(k for k in {*theirs, *mine} if theirs.get(k) != mine.get(k))
        return f"started with other settings ({', '.join(differ) or 'descriptors'})"
    privileged = os.geteuid() == 0
    if request["nice"] < os.getpriority(os.PRIO_PROCESS, 0) and not privileged:
        return "started at a higher priority than this process may give"
    if not privileged and any(
        _above(hard, resource.getrlimit(limit)[1])
        for (_, hard), limit in zip(request["limits"], LIMITS, strict=True)
    ):
        return "started with higher resource limits than this process has"
    return ""


def _above(limit: int, other: int) -> bool:
    """Whether resource limit ``limit`` is higher than ``other`` (infinity is highest)."""
    if limit == resource.RLIM_INFINITY:
        return other != resource.RLIM_INFINITY
    return other != resource.RLIM_INFINITY and limit > other


def _become(
    request: dict,
    fds: list[int],
    run: Callable[[list[str]], int],
    close: Sequence[socket.socket | int],
) -> None:
    """In the fork: become the command, run it, exit with its status. Never returns.
    ``close``: the standing process's own sockets and descriptors."""
    code = 1
    try:
        os.setsid()  # its own process group: signals and SIGKILL reach it and its children
        signal.set_wakeup_fd(-1)
        signals_as_new()
        for own in close:
            with contextlib.suppress(OSError):
                own.close() if isinstance(own, socket.socket) else os.close(own)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.umask(request["umask"])
        os.setpriority(os.PRIO_PROCESS, 0, request["nice"])
        for (soft, hard), limit in zip(request["limits"], LIMITS, strict=True):
            resource.setrlimit(limit, (soft, hard))
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = list(request["argv"])
        unbuffered = bool(request["env"].get("PYTHONUNBUFFERED"))
        sys.stdin, sys.stdout, sys.stderr = (
            _text_stream(fd, setup, unbuffered) for fd, setup in enumerate(request["streams"])
        )
        code = run(list(request["argv"]))
        atexit._run_exitfuncs()  # temporary folders, file locks, logging's last flush
    except SystemExit as stop:  # as Python ends on one: a message is printed, status 1
        if isinstance(stop.code, int) or stop.code is None:
            code = stop.code or 0
        else:
            with contextlib.suppress(Exception):
                print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:  # the command's crash, as Python would print it
        with contextlib.suppress(Exception):
            traceback.print_exc()
        code = 1
    finally:
        code = _flushed(int(code or 0))
        os._exit(code & 0xFF)


def _flushed(code: int) -> int:
    """The exit status once the command's output is flushed: as Python's, 120 when that
    fails (a full disk, a closed pipe) after a command that succeeded."""
    failed = False
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception as error:
            failed = True
            with contextlib.suppress(Exception):
                os.write(2, f"Exception ignored on flushing {stream.name}: {error!r}\n".encode())
    return 120 if failed and code == 0 else code


def _text_stream(fd: int, setup: dict[str, str | None], unbuffered: bool) -> io.TextIOWrapper:
    """The command's stream ``fd`` as Python would have opened it (its encoding and errors as
    the command had them; output line-buffered on a terminal, standard error always; written
    through with PYTHONUNBUFFERED)."""
    raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
    raw.name = ("<stdin>", "<stdout>", "<stderr>")[fd]
    if fd == 0:
        buffered: io.BufferedIOBase | io.FileIO = io.BufferedReader(raw)
    else:  # unbuffered as `python -u` writes: an error is raised by the write that fails
        buffered = raw if unbuffered else io.BufferedWriter(raw)
    stream = io.TextIOWrapper(
        buffered,
        encoding=setup.get("encoding") or "utf-8",
        errors=setup.get("errors") or "strict",
        line_buffering=fd != 0 and (fd == 2 or os.isatty(fd)),
        write_through=fd != 0 and unbuffered,
    )
    stream.mode = "r" if fd == 0 else "w"
    return stream


def _from_command(conn: socket.socket, forks: dict[socket.socket, Fork]) -> None:
    """A command's message: a signal to pass on; or its end (the fork's group is killed)."""
    pid = forks[conn].pid
    try:
        data = conn.recv(4096)
    except OSError:
        data = b""
    if not data:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        return
    for line in data.decode(errors="replace").splitlines():
        word, _, value = line.partition(" ")
        if word == "signal" and value.isdigit() and int(value) in {int(s) for s in FORWARDED}:
            with contextlib.suppress(OSError):
                os.killpg(pid, int(value))


def _reap(forks: dict[socket.socket, Fork], say: Callable[[str], object]) -> None:
    """Collect the forks that ended and tell their commands how."""
    while True:
        try:
            pid, status, usage = os.wait3(os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        for conn, fork in list(forks.items()):
            if fork.pid == pid:
                del forks[conn]
                if os.WIFSIGNALED(status):
                    answer = f"killed {os.WTERMSIG(status)}"
                else:
                    answer = f"exit {os.waitstatus_to_exitcode(status)}"
                with contextlib.suppress(OSError):
                    conn.sendall(f"{answer}\n".encode())
                conn.close()
                took = time.monotonic() - fork.started
                peak = usage.ru_maxrss / 1024  # its largest process (Linux: KiB)
                said = f"`{fork.command}` (process {pid}): {answer}"
                say(f"{said} after {took:.1f} s, {peak:,.0f} MiB")


# ---------------------------------------------------------------- the socket's messages


def _send(conn: socket.socket, payload: bytes, fds: list[int]) -> None:
    data = _LENGTH.pack(len(payload)) + payload
    sent = socket.send_fds(conn, [data], fds)
    if sent < len(data):
        conn.sendall(data[sent:])


def _receive(conn: socket.socket, deadline: float) -> tuple[bytes, list[int]]:
    """A request and its descriptors, whole by ``deadline`` (else TimeoutError)."""

    def patience() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not sent in time")
        return left

    conn.settimeout(patience())
    data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
    fds = list(fds)
    try:
        if len(data) < _LENGTH.size:
            raise ValueError("request cut short")
        (length,) = _LENGTH.unpack(data[: _LENGTH.size])
        if length > MAX_REQUEST:
            raise ValueError("request too large")
        payload = bytearray(data[_LENGTH.size :])
        while len(payload) < length:
            conn.settimeout(patience())
            chunk = conn.recv(min(65536, length - len(payload)))
            if not chunk:
                raise ValueError("request cut short")
            payload += chunk
        return bytes(payload), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _read_line(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()
