"""A full or failing disk is an operator's message, not a traceback.

Before a run writes anything it compares the free space under WELFARE_HOME with what the run
may need (pipelines.intake.space); any write that fails for lack of space, or because the disk
failed, is recognised (:func:`is_disk_error`) and told in one line (:func:`disk_message`).
Every write of the pipeline is atomic (pipelines.foundation.atomic), so a write that fails half-way
leaves the file it was replacing as it was; the next run after space is freed does the work.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from pipelines.foundation.settings import Settings

DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS}
# What SQLite (Dagster's run history) and DuckDB say when they cannot write.
DISK_PHRASES = (
    "no space left on device",
    "database or disk is full",
    "disk i/o error",
    "input/output error",
    "disk quota exceeded",
    "read-only file system",
)
FAILING_PHRASES = ("i/o error", "input/output error", f"[errno {errno.EIO}]")
FULL_PHRASES = (
    "no space left on device",
    "database or disk is full",
    "disk quota exceeded",
    f"[errno {errno.ENOSPC}]",
)
# The first words of each line disk_message writes.
DISK_HEADINGS = ("DISK FULL", "DISK READ-ONLY", "DISK ERROR")
HEADROOM = 64 * 2**20  # Dagster's run history, dbt's artefacts and logs of one run


class DiskFull(RuntimeError):
    """There is not enough space under WELFARE_HOME for a run (the message says what to do)."""


def file_or_tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0


def free_bytes(path: Path) -> int:
    """Free space on the file system holding ``path`` (or its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


# What a sender on the submission page is told (the operator's line goes to the server's log).
# ... and who only opened a page.
STAFF_DISK_TROUBLE = (
    "サーバーの保存領域に問題があるため、いまはこのページを表示できません。"
    "社協の担当者に連絡してください。 / "
    "The server's disk is full or failing, so this page cannot be shown now: please tell the "
    "council."
)
STAFF_DISK_FULL = (
    "サーバーの保存領域に書き込めないため、受け付けられませんでした。"
    "社協の担当者に連絡してください。 / "
    "The server could not store the file (its disk is full or failing): please tell the council."
)


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def out_of_inodes(path: Path) -> bool:
    """Whether the file system holding ``path`` can take no new file (no free inode), whatever
    its free bytes."""
    found = os.statvfs(_existing(path))
    return found.f_files > 0 and found.f_favail == 0


def disk_trouble(error: BaseException, home: Path) -> bool:
    """Whether ``error`` is the disk's (see is_disk_error), or one SQLite gives for any reason
    ("unable to open database file") raised while the home's disk is read-only or out of
    inodes."""
    return is_disk_error(error) or mentions_disk_trouble(str(error), home)


def mentions_disk_trouble(text: str, home: Path) -> bool:
    """Whether an error message (a failed step's) is the disk's: see disk_trouble."""
    if mentions_disk_error(text):
        return True
    unopened = "unable to open database file" in text.lower()
    return unopened and (read_only(home) or out_of_inodes(home))


def read_only(path: Path) -> bool:
    """Whether the file system holding ``path`` (or its nearest existing parent) is mounted
    read-only."""
    return bool(os.statvfs(_existing(path)).f_flag & os.ST_RDONLY)


def disk_message(
    settings: Settings, needed: int, detail: str = "", again: str = "welfare run"
) -> str:
    """The one line an operator reads: what is wrong with the disk (read-only as mounted; full
    when the free space is short of what a run needs or nothing else is known; else failing,
    when the error in ``detail`` says so), where, how much is free and needed (the estimate:
    pipelines.intake.space), what to do (then run the command ``again``)."""
    free = free_bytes(settings.home)
    failing = any(phrase in detail.lower() for phrase in FAILING_PHRASES)
    said_full = any(phrase in detail.lower() for phrase in FULL_PHRASES)
    detail = f" ({detail.strip().splitlines()[0][:160]})" if detail.strip() else ""
    unchanged = (
        f"and run `{again}` again; the published warehouse and every received file are "
        "unchanged. / "
    )
    if read_only(settings.home):
        return (
            f"DISK READ-ONLY: {settings.home} cannot be written{detail}. Make that file "
            "system writable again (a disk the system found failing is remounted read-only: "
            "see the system log) "
            + unchanged
            + "ディスクが読み取り専用になっていて書き込めません。"
            "書き込めるようにしてから再実行してください。"
        )
    if failing and free >= needed:
        return (
            f"DISK ERROR: writing under {settings.home} failed{detail}. Check that disk "
            "(the system log says more) "
            + unchanged
            + "ディスクへの書き込みに失敗しました。ディスクを点検してから再実行してください。"
        )
    if (said_full or out_of_inodes(settings.home)) and free >= needed:
        return (
            f"DISK FULL: {settings.home} has {_mb(free)} free, yet nothing more can be written "
            f"there{detail}: the file system is out of inodes (`df -i {settings.home}` shows "
            "them), or a quota or the storage beneath it is full. Free files or space there "
            + unchanged
            + "ディスクのファイル数（inode）か容量の上限に達しています。"
            "空きを作ってから再実行してください。"
        )
    return (
        f"DISK FULL: {settings.home} has {_mb(free)} free and a run needs about {_mb(needed)}"
        + detail
        + ". Free space on that disk (or move WELFARE_HOME to a larger one) "
        + unchanged
        + "ディスクの空きが足りません。空きを作ってから再実行してください。"
    )


def is_disk_error(error: BaseException | None) -> bool:
    """Whether ``error`` (or an error it was raised from) is a full, failing or read-only disk."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, DiskFull):
            return True
        if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
            return True
        if isinstance(error, OSError | sqlite3.Error) or type(error).__module__.startswith(
            ("duckdb", "_duckdb", "sqlalchemy", "dagster", "pyarrow")
        ):
            text = str(error).lower()
            if any(phrase in text for phrase in DISK_PHRASES):
                return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def mentions_disk_error(text: str) -> bool:
    """Whether an error message (e.g. a failed Dagster step's) is a disk error's."""
    if any(heading in text for heading in DISK_HEADINGS):
        return True
    text = text.lower()
    return any(phrase in text for phrase in DISK_PHRASES) or "errno 28" in text


def disk_line_in(text: str) -> str | None:
    """The line :func:`disk_message` wrote, where ``text`` (a failed step's message) has it."""
    at = [text.index(heading) for heading in DISK_HEADINGS if heading in text]
    return text[min(at) :].splitlines()[0] if at else None
