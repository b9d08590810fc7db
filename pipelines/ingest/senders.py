"""Who sent a landed file: the note the submission page leaves beside it.

A file placed in ``landing/`` by the submission page (pipelines.web) has a hidden note next to
it, ``.<file name>.sender.json``: the account that sent it and the SHA-256 of what it sent.
Intake reads the note into the file's receipt, and so into the ledger (``sent_by``). A note
whose SHA-256 is not the file's (the file was replaced by hand afterwards) names nobody.
Files copied into ``landing/`` by hand have no note: their sender is unknown (None).
"""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.atomic import write_text


def note_path(landed: Path) -> Path:
    return landed.with_name(f".{landed.name}.sender.json")


def write_sender_note(landed: Path, sent_by: str, sha256: str) -> Path:
    """Written before the file itself is put in place, so intake never sees one without it."""
    note = {"sent_by": sent_by, "sha256": sha256}
    return write_text(note_path(landed), json.dumps(note, ensure_ascii=False))


def sender_of(landed: Path, sha256: str) -> str | None:
    try:
        note = json.loads(note_path(landed).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(note, dict) or note.get("sha256") != sha256:
        return None
    sent_by = note.get("sent_by")
    return sent_by if isinstance(sent_by, str) else None
