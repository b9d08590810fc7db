"""The shipped sample submissions (sources/sample/), put in a home's landing folder."""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
from pathlib import Path

from pipelines.foundation.settings import SAMPLE_DIR, Settings


def sample_sent_times(sample_dir: Path = SAMPLE_DIR) -> dict[str, float]:
    """When each sample file was saved by its sender (sent_at.csv; git keeps no mtimes)."""
    with (sample_dir / "sent_at.csv").open(encoding="utf-8", newline="") as handle:
        return {
            row["path"]: dt.datetime.fromisoformat(row["sent_at"]).timestamp()
            for row in csv.DictReader(handle)
        }


def load_sample(settings: Settings, sample_dir: Path = SAMPLE_DIR) -> list[Path]:
    """Put the shipped sample submissions in the landing folder (files already there stay),
    each with the modification time its sender saved it at."""
    sent = sample_sent_times(sample_dir)
    copied = []
    for source_dir in sorted(p for p in sample_dir.iterdir() if p.is_dir()):
        for file in sorted(source_dir.iterdir()):
            target = settings.landing_for(source_dir.name) / file.name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)
                saved = sent[file.relative_to(sample_dir).as_posix()]
                os.utime(target, (saved, saved))
                copied.append(target)
    return copied
