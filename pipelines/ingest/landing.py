"""The landing folder: which files in it are submissions, and who sent them.

Files are put in ``landing/<source>/`` by hand (copied from e-mail, a shared drive) or by the
submission page (:mod:`pipelines.web.sending`). Hidden and temporary files (a name starting
with ``.``, or ``~$`` as Excel names the copy of an open workbook) are never submissions: the
page refuses them, intake never reads them, and atomic writes use such names until the file
is whole.

A file placed by the page has a hidden note beside it, ``.<its name>.sender.json``: the
account that sent it, when, the SHA-256 of what it sent and the file's name as the sender's
computer named it (a long name is shortened in ``landing/``: file systems count bytes).
Intake reads the note into the file's receipt, and so into the ledger. A note whose SHA-256 is
not the file's (the file was replaced by hand afterwards) says nothing. Files copied into
``landing/`` by hand have no note: their sender is unknown.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.foundation.atomic import write_text
from pipelines.foundation.settings import Settings
from pipelines.ingest.contract import SOURCE_KEYS

HIDDEN_PREFIXES = (".", "~$")
# A name in landing/ stays well within the 255 bytes file systems allow, with room for the
# hidden names beside it (the sender's note, an atomic write's temporary file).
LANDING_NAME_BYTES = 120


def is_hidden(name: str) -> bool:
    return name.startswith(HIDDEN_PREFIXES)


def prepare_landing(settings: Settings) -> None:
    """A landing folder for each source (where people put the files they send)."""
    for source in SOURCE_KEYS:
        settings.landing_for(source).mkdir(parents=True, exist_ok=True)


def landed_files(settings: Settings, source: str) -> list[Path]:
    """The submissions waiting or received in ``landing/<source>/`` (any depth), in order;
    folders first named in text (_named_in_text), so that the files' paths are text too."""
    folder = settings.landing_for(source)
    found = []
    for root, folders, files in os.walk(folder):
        for n, name in enumerate(folders):
            folders[n] = _named_in_text(Path(root) / name).name  # walked under its new name
        found += [_named_in_text(Path(root) / n) for n in files if not is_hidden(n)]
    return sorted(p for p in found if p.is_file())


def _named_in_text(path: Path) -> Path:
    """A file or folder whose name is not UTF-8 — a zip made on Japanese Windows, unpacked
    here, keeps its names in CP932 — is renamed once to that name read as CP932 (what its
    sender saw): every step after keeps file names as text (the ledger, its entries' hashes)."""
    try:
        path.name.encode("utf-8")
        return path
    except UnicodeEncodeError:
        pass
    name = os.fsencode(path.name).decode("cp932", errors="replace")
    target, n = path.with_name(name), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{Path(name).stem}_{n}{Path(name).suffix}")
    try:
        path.rename(target)
    except OSError:  # a folder one may only read: the file waits, under its name
        return path
    return target


def stray_files(settings: Settings) -> list[Path]:
    """Files in landing/ outside every source's folder: nothing reads them (a person put them
    one folder too high, or in a folder of their own)."""
    if not settings.landing.exists():
        return []
    found = []
    for entry in settings.landing.iterdir():
        if entry.name in SOURCE_KEYS or is_hidden(entry.name):
            continue
        inside = entry.rglob("*") if entry.is_dir() else [entry]
        found += [p for p in inside if p.is_file() and not is_hidden(p.name)]
    return sorted(found)


def landing_name(file_name: str, sha256: str) -> str:
    """The name a sent file gets in landing/: its own, or, when longer than
    LANDING_NAME_BYTES in UTF-8, its beginning (cut between characters), a short hash and its
    suffix (the whole name is kept in the sender's note)."""
    if len(file_name.encode("utf-8")) <= LANDING_NAME_BYTES:
        return file_name
    stem, dot, suffix = file_name.rpartition(".")
    tail = f"~{sha256[:8]}{dot}{suffix}" if dot else f"~{sha256[:8]}"
    budget = LANDING_NAME_BYTES - len(tail.encode("utf-8"))
    cut = (stem if dot else file_name).encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    return cut + tail


@dataclass(frozen=True)
class SenderNote:
    sent_by: str
    file_name: str | None  # as the sender's computer named it (None: as in landing/)
    sent_at: str | None  # ISO time it was sent on the page


def note_path(landed: Path) -> Path:
    return landed.with_name(f".{landed.name}.sender.json")


def write_sender_note(
    landed: Path,
    sent_by: str,
    sha256: str,
    file_name: str | None = None,
    sent_at: str | None = None,
) -> Path:
    """Written before the file itself is put in place, so intake never sees one without it."""
    note = {"sent_by": sent_by, "sha256": sha256, "file_name": file_name, "sent_at": sent_at}
    return write_text(note_path(landed), json.dumps(note, ensure_ascii=False))


def sender_of(landed: Path, sha256: str) -> SenderNote | None:
    try:
        note = json.loads(note_path(landed).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(note, dict) or note.get("sha256") != sha256:
        return None
    sent_by, file_name, sent_at = note.get("sent_by"), note.get("file_name"), note.get("sent_at")
    if not isinstance(sent_by, str):
        return None
    return SenderNote(
        sent_by,
        file_name if isinstance(file_name, str) and file_name else None,
        sent_at if isinstance(sent_at, str) else None,
    )
