"""A helper process that imports a heavy library while this one does other work.

A run of one small file spends seconds importing great-expectations before it can check the
file's rows. Started at the beginning of the run, a *warm process* imports it on the machine's
other core while this process imports Dagster and plans the run; the checks are then handed to
it (:meth:`WarmProcess.call`: a module's function by name, its arguments and result pickled over
a pipe) and come back as if run here. A function may answer first and finish its work after
(:class:`ThenDo`): the next call waits for that work, the caller does not.

The helper is named by what it preloads and is found again by that name (:func:`running`).
It serves one call at a time, in order, for as long as this process wants it; it ends when
this process ends (its standard input closes) or is stopped. Whatever goes wrong with it —
it could not start, it died, it answers garbage — :class:`Gone` is raised and the caller does
the work itself: a warm process changes when work is done, never what it gives.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from pipelines.foundation.processes import Forked, fork_call, python_command

_LENGTH = struct.Struct(">Q")
PATIENCE = 1800  # seconds a call may take (a slice of a large file is checked in seconds)
_warm: dict[str, WarmProcess] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ThenDo:
    """What a function run in a warm process may return: ``answer`` is sent back at once, then
    the warm process does ``then`` (before it takes the next call)."""

    answer: Any
    then: Callable[[], object]


class Gone(Exception):
    """The warm process cannot serve (not started, ended, broken): do the work here."""


class RemoteError(Exception):
    """The function raised in the warm process (its exception could not be sent back as is)."""


@dataclass
class WarmProcess:
    name: str
    process: subprocess.Popen | Forked
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, module: str, function: str, *args: Any) -> Any:
        """``module.function(*args)`` in the warm process; its exception is raised here."""
        with self.lock:
            if self.process.poll() is not None:
                raise Gone(f"{self.name}: ended with {self.process.returncode}")
            try:
                _send(self.process.stdin, (module, function, args))
                ready, _, _ = select.select([self.process.stdout], [], [], PATIENCE)
                if not ready:
                    raise TimeoutError(f"no answer in {PATIENCE} s")
                ok, value = _receive(self.process.stdout)
            except Exception as error:  # a broken pipe, an answer cut short or unreadable
                self.process.kill()
                raise Gone(f"{self.name}: {type(error).__name__}: {error}") from error
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def start(
    name: str, preload: Sequence[str], env: dict[str, str] | None = None, fork: bool = False
) -> WarmProcess:
    """The warm process ``name`` (started now, or the one already running in this process),
    importing the ``preload`` modules in order; a ``module:function`` entry is called once
    its module is imported (to make the first call ready, too). ``fork``: a fork of this
    process, which has them imported already (pipelines.foundation.processes.can_fork_with),
    instead of a new one."""
    with _lock:
        warm = _warm.get(name)
        if warm is not None and warm.process.poll() is None:
            return warm
        process: subprocess.Popen | Forked
        if fork:
            process = fork_call(_serve, [preload], {**os.environ, **(env or {})}, answers=True)
        else:
            # Not `-m`: the server must be this module (its ThenDo), not a second copy as
            # __main__.
            serve = f"import sys; from {__name__} import _serve; _serve(sys.argv[1:])"
            process = subprocess.Popen(
                python_command("-c", serve, *preload),
                stdin=subprocess.PIPE,  # closes when this process ends: the warm one ends too
                stdout=subprocess.PIPE,
                env={**os.environ, **(env or {})},
            )
        _warm[name] = warm = WarmProcess(name, process)
        return warm


def running(name: str) -> WarmProcess | None:
    """The warm process ``name`` this process started, if it is still there."""
    warm = _warm.get(name)
    return warm if warm is not None and warm.process.poll() is None else None


def stop(name: str) -> None:
    with _lock:
        warm = _warm.pop(name, None)
    if warm is not None:
        warm.stop()


def _send(stream: IO[bytes] | None, message: Any) -> None:
    if stream is None:
        raise OSError("no pipe")
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes] | None) -> Any:
    if stream is None:
        raise OSError("no pipe")
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError("the warm process ended")
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError("the warm process ended mid-answer")
    return pickle.loads(data)


def _outcome(module: str, function: str, args: tuple) -> tuple[bool, Any]:
    try:
        return True, getattr(importlib.import_module(module), function)(*args)
    except Exception as error:  # sent back to be raised where the call was made
        try:
            pickle.dumps(error)
            return False, error
        except Exception:
            return False, RemoteError("".join(traceback.format_exception(error)))


NICE = 3  # a warm process yields the CPU to the one that started it (see yield_cpu)


def yield_cpu() -> None:
    """Lower this process's priority: a warm process works on whatever CPU the process that
    started it leaves (the machine may have two cores, and that process is the run)."""
    with contextlib.suppress(OSError):
        os.nice(NICE)


def _serve(preload: Sequence[str]) -> None:
    yield_cpu()
    # The pipe is the protocol's: anything printed goes to this process's standard error.
    requests, answers = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    for entry in preload:
        module, _, function = entry.partition(":")
        try:
            loaded = importlib.import_module(module)
            if function:
                getattr(loaded, function)()
        except Exception:  # the call that needs it raises the same, where it is made
            traceback.print_exc()
    while True:
        try:
            module, function, args = _receive(requests)
        except EOFError:  # the process that started it has ended, or stopped it
            sys.stderr.flush()
            os._exit(0)  # at once: tearing down great-expectations would only cost a second
        ok, value = _outcome(module, function, args)
        if ok and isinstance(value, ThenDo):
            _send(answers, (True, value.answer))
            try:
                value.then()
            except Exception:  # what comes after the answer fails alone, said on stderr
                traceback.print_exc()
        else:
            _send(answers, (ok, value))
