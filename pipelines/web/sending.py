"""Sending a file through the page: its name and size, keeping the upload aside until it is
checked (:mod:`pipelines.web.checking`), and on the sender's confirmation placing it in
``landing/<source>/`` — atomically, exactly once, with a note of who sent it.

An upload waits in ``WELFARE_HOME/web/pending/<upload id>/`` (private: 0700) under a short name
of its own; the pipeline never reads there. A confirmed file goes to
``landing/<source>/sent/<submitter>/<time uploaded>-<upload id>/<its name>``: the folder is
the upload's own (the same on every attempt), its name the sender's (shortened when too long
for the file system; the whole name is in the note, and the reader takes the fiscal year and
ward from it), and no other file is touched.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import subprocess
import threading
import time
import unicodedata
from pathlib import Path

from pipelines.foundation.atomic import copy_file, write_bytes
from pipelines.foundation.hashing import sha256_of
from pipelines.foundation.processes import python_command
from pipelines.foundation.settings import Settings
from pipelines.ingest.landing import is_hidden, landing_name, note_path, write_sender_note
from pipelines.intake.run_starts import page_run_coming, starting
from pipelines.web.checking import pending_dir, pending_file
from pipelines.web.private import private_dir
from pipelines.web.uploads import Upload, UploadStore

log = logging.getLogger("welfare.web")
MAX_UPLOAD_BYTES = 20 * 2**20  # a year of a ward's places is a few hundred KB
ALLOWED_SUFFIXES = (".csv", ".xlsx")
MAX_NAME_CHARS = 255  # what Windows allows a file name
PENDING_HOURS = 24  # an upload not sent or discarded within a day is removed
# Zero-width joiners are formatting characters that emoji are made of; other formatting
# characters (bidirectional overrides …) disguise a name.
JOINERS = ("\u200c", "\u200d")
WINDOWS_DEVICES = frozenset(
    {
        "CON",
        "PRN",
        "AUX",
        "NUL",
        *(f"COM{n}" for n in range(1, 10)),
        *(f"LPT{n}" for n in range(1, 10)),
    }
)


class SendError(ValueError):
    """The file cannot be sent as it is; the message (Japanese / English) says what to do."""


def check_file_name(name: str) -> str:
    """The file's name as sent, or SendError: no folders, no control characters, .csv/.xlsx."""
    if not name or not name.strip():
        raise SendError("ファイルを選んでください。 / Choose a file to send.")
    if any(sep in name for sep in ("/", "\\")) or name in (".", ".."):
        raise SendError(
            "ファイル名にフォルダの区切り（/ や \\）は使えません。 / "
            "A file name cannot contain folder separators (/ or \\)."
        )
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in JOINERS for c in name):
        raise SendError(
            "ファイル名に制御文字が含まれています。名前を付け直してください。 / "
            "The file name contains control characters: rename the file and send it again."
        )
    if is_hidden(name):
        raise SendError(
            "隠しファイル・一時ファイルは送れません。 / Hidden and temporary files cannot be sent."
        )
    if len(name) > MAX_NAME_CHARS:
        raise SendError(
            f"ファイル名が長すぎます（{MAX_NAME_CHARS}文字まで）。短い名前を付けてください。 / "
            f"The file name is too long (at most {MAX_NAME_CHARS} characters): rename the file."
        )
    if name.split(".", 1)[0].strip().upper() in WINDOWS_DEVICES:
        raise SendError(
            "この名前（CON、NUL など）はWindowsで使えない名前です。名前を付け直してください。 / "
            "This name (CON, NUL …) is reserved on Windows: rename the file."
        )
    if not name.lower().endswith(ALLOWED_SUFFIXES):
        raise SendError(
            "送れるのは Excel（.xlsx）と CSV（.csv）のファイルだけです。 / "
            "Only Excel (.xlsx) and CSV (.csv) files can be sent."
        )
    return name


def stored_name(file_name: str) -> str:
    """An upload's name in web/pending/: short, whatever the sender's name."""
    return "upload" + Path(file_name).suffix.lower()


def keep_upload(settings: Settings, upload_id: str, name: str, data: bytes) -> Path:
    folder = private_dir(pending_dir(settings, upload_id))
    return write_bytes(folder / name, data)


def landing_target(settings: Settings, upload: Upload) -> Path:
    """Where a confirmed upload goes: the same place on every attempt to place it."""
    uploaded = dt.datetime.fromisoformat(upload.uploaded_at)
    folder = f"{uploaded:%Y%m%dT%H%M%SZ}-{upload.upload_id[:8]}"
    return (
        settings.landing_for(upload.source)
        / "sent"
        / upload.submitter_code
        / folder
        / landing_name(upload.file_name, upload.sha256)
    )


def place_in_landing(settings: Settings, upload: Upload, sent_by: str) -> Path:
    """Put a confirmed upload where the pipeline takes files in; return its landing path.

    The note of who sent it is written first, then the file is copied under a hidden name
    and renamed into place: intake never sees half a file, nor a file without its note. If
    anything fails, what this call made is removed (no note, no empty folder) and the upload
    stays in web/pending/, to be confirmed again.
    """
    target = landing_target(settings, upload)
    if target.exists() and sha256_of(target) == upload.sha256:
        return target  # placed by an attempt that stopped before it was recorded
    folder_existed = target.parent.exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_sender_note(
            target,
            sent_by,
            upload.sha256,
            file_name=upload.file_name,
            sent_at=dt.datetime.now(dt.UTC).isoformat(),
        )
        copy_file(pending_file(settings, upload), target)
    except BaseException:
        note_path(target).unlink(missing_ok=True)
        if not folder_existed:
            shutil.rmtree(target.parent, ignore_errors=True)
        raise
    return target


def start_run(settings: Settings) -> None:
    """Start the run that takes a confirmed file in (`welfare run --sent`, in a process of its
    own that outlives the request, and the server unless a service manager stops the server's
    whole group); its output goes to work/logs/sent-runs.log. The run decides for itself
    whether it is needed (pipelines.intake.run_starts): a file confirmed while a run goes is
    taken when that run ends. If it cannot be started, or is stopped before its run, the
    landing sensor (or the next file's run, or the nightly run) takes the file in: the sender
    is not told of it."""
    logs = settings.work_dir / "logs"
    handed: dict[str, int] = {}
    try:
        if page_run_coming(settings):
            return  # a process started earlier takes this file with the others
        logs.mkdir(parents=True, exist_ok=True)
        handed = starting(settings)  # the sensor leaves the files to it from now on
        with (logs / "sent-runs.log").open("a", encoding="utf-8") as output:
            process = subprocess.Popen(
                python_command("-m", "pipelines.cli", "run", "--sent"),
                env={
                    **os.environ,
                    "WELFARE_HOME": str(settings.home),
                    **{name: str(fd) for name, fd in handed.items()},
                },
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                pass_fds=tuple(handed.values()),
                start_new_session=True,  # stopping the server does not stop a run
            )
    except OSError as error:
        log.warning("the run for a sent file was not started (%s): the sensor takes it", error)
        return
    finally:
        for fd in handed.values():
            os.close(fd)  # the child's copy holds the lock now, or nobody's does
    # Waited for on a thread of its own: an ended run leaves no zombie behind the server.
    threading.Thread(target=process.wait, name="sent-run", daemon=True).start()


def discard_upload(settings: Settings, upload_id: str) -> None:
    shutil.rmtree(pending_dir(settings, upload_id), ignore_errors=True)


def forget_stale_uploads(
    settings: Settings, store: UploadStore, older_than: float = PENDING_HOURS * 3600
) -> None:
    """Uploads neither sent nor discarded within a day (the browser was closed) are removed:
    nothing waits in ``web/pending/`` for ever."""
    for upload_id in store.expired(dt.timedelta(seconds=older_than)):
        if store.close(upload_id, "expired"):
            discard_upload(settings, upload_id)
    root = settings.web_dir / "pending"
    if not root.exists():
        return
    limit = time.time() - older_than
    for folder in root.iterdir():  # left by a version that kept no state, or a crash
        upload = store.get(folder.name)
        if (
            folder.is_dir()
            and folder.stat().st_mtime < limit
            and (upload is None or upload.state not in ("checking", "checked", "placing"))
        ):
            shutil.rmtree(folder, ignore_errors=True)
