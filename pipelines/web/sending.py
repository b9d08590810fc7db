"""Sending a file through the page: keep the upload aside, tell the sender what the warehouse
would make of it (the same reading and checks as ``welfare validate``), and only on the
sender's confirmation put it in ``landing/<source>/`` — atomically, with a note of who sent it.

An upload waits in ``WELFARE_HOME/web/pending/<upload id>/`` until it is confirmed; the
pipeline never reads there. A confirmed file goes to
``landing/<source>/sent/<submitter>/<UTC time>-<upload id>/<its own name>``: its name is
unchanged (the reader takes the fiscal year and ward from it) and no other file is touched.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from pipelines.atomic import copy_file, write_bytes
from pipelines.ingest.contract import Contract
from pipelines.ingest.lake import utc_now
from pipelines.ingest.senders import write_sender_note
from pipelines.settings import Settings
from pipelines.validation import Validation, validate_file
from pipelines.web.accounts import Account, Upload
from pipelines.web.submitters import may_send

MAX_UPLOAD_BYTES = 20 * 2**20  # a year of a ward's places is a few hundred KB
ALLOWED_SUFFIXES = (".csv", ".xlsx")
MAX_NAME_CHARS = 150
PENDING_HOURS = 24  # an upload not sent or discarded within a day is removed


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
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise SendError(
            "ファイル名に制御文字が含まれています。名前を付け直してください。 / "
            "The file name contains control characters: rename the file and send it again."
        )
    if name.startswith((".", "~$")):
        raise SendError(
            "隠しファイル・一時ファイルは送れません。 / Hidden and temporary files cannot be sent."
        )
    if len(name) > MAX_NAME_CHARS:
        raise SendError(
            f"ファイル名が長すぎます（{MAX_NAME_CHARS}文字まで）。 / "
            f"The file name is too long (at most {MAX_NAME_CHARS} characters)."
        )
    if not name.lower().endswith(ALLOWED_SUFFIXES):
        raise SendError(
            "送れるのは Excel（.xlsx）と CSV（.csv）のファイルだけです。 / "
            "Only Excel (.xlsx) and CSV (.csv) files can be sent."
        )
    return name


@dataclass
class Verdict:
    """What the page tells the sender about one upload, and whether it may be sent."""

    upload: Upload
    validation: Validation
    problems: list[str]  # why it cannot be sent (empty: it can)

    @property
    def sendable(self) -> bool:
        return not self.problems


def pending_dir(settings: Settings, upload_id: str) -> Path:
    return settings.web_dir / "pending" / upload_id


def keep_upload(settings: Settings, upload: Upload, data: bytes) -> Path:
    return write_bytes(pending_dir(settings, upload.upload_id) / upload.file_name, data)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def judge(settings: Settings, account: Account, upload: Upload, contract: Contract) -> Verdict:
    """Read the waiting upload as the pipeline would; say whether this account may send it."""
    path = pending_dir(settings, upload.upload_id) / upload.file_name
    validation = validate_file(path, contract.key)
    problems: list[str] = []
    if not may_send(account.submitter_code, contract):
        problems.append(
            f"このアカウントは「{contract.label_ja}」を送れません。 / "
            f"This account does not send '{contract.label_en}'."
        )
    result = validation.result
    if result.status == "rejected":
        problems.append(
            "このファイルは受け付けられません。上の理由を直して、もう一度送ってください。 / "
            "This file would be rejected: correct it as the reason above says and send it again."
        )
    elif result.submitter_code and result.submitter_code != account.submitter_code:
        problems.append(
            f"このファイルは「{result.submitter_name}」のものです。"
            "自分の提出分だけを送れます。 / "
            f"This file is {result.submitter_name}'s: an account sends its own submissions only."
        )
    return Verdict(upload, validation, problems)


def place_in_landing(settings: Settings, upload: Upload, sent_by: str) -> Path:
    """Put a confirmed upload where the pipeline takes files in; return its landing path.

    The note of who sent it is written first, then the file is copied under a hidden name
    and renamed into place: intake never sees half a file, nor a file without its note.
    """
    source = pending_dir(settings, upload.upload_id) / upload.file_name
    stamp = f"{utc_now():%Y%m%dT%H%M%SZ}-{upload.upload_id[:8]}"
    folder = settings.landing_for(upload.source) / "sent" / upload.submitter_code / stamp
    target = folder / upload.file_name
    write_sender_note(target, sent_by, upload.sha256)
    copy_file(source, target)
    shutil.rmtree(pending_dir(settings, upload.upload_id), ignore_errors=True)
    return target


def discard_upload(settings: Settings, upload_id: str) -> None:
    shutil.rmtree(pending_dir(settings, upload_id), ignore_errors=True)


def forget_stale_uploads(settings: Settings, older_than: float = PENDING_HOURS * 3600) -> None:
    """Uploads checked but neither sent nor discarded (the browser was closed) are removed
    after a day: nothing waits in ``web/pending/`` for ever."""
    root = settings.web_dir / "pending"
    if not root.exists():
        return
    limit = time.time() - older_than
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < limit:
            shutil.rmtree(folder, ignore_errors=True)
