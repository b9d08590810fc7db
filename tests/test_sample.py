"""The shipped sample is exactly what the generator makes."""

from __future__ import annotations

import subprocess
import sys

from pipelines.foundation.settings import PROJECT_ROOT, SAMPLE_DIR


def test_the_generator_reproduces_the_shipped_sample_byte_for_byte(tmp_path):
    subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "sources" / "generate_sample.py"), str(tmp_path)],
        check=True,
    )
    made = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    shipped = {
        p.relative_to(SAMPLE_DIR): p.read_bytes() for p in SAMPLE_DIR.rglob("*") if p.is_file()
    }
    assert made.keys() == shipped.keys()
    assert [name for name in made if made[name] != shipped[name]] == []


def test_the_sample_mixes_the_variants_real_files_have():
    names = [p.name for p in SAMPLE_DIR.rglob("*") if p.is_file()]
    assert any(n.endswith(".xlsx") for n in names) and any(n.endswith(".csv") for n in names)
    raw = [p.read_bytes() for p in SAMPLE_DIR.rglob("*.csv")]
    assert any(b.startswith(b"\xef\xbb\xbf") for b in raw)
    cp932 = [b for b in raw if not b.startswith(b"\xef\xbb\xbf") and _not_utf8(b)]
    assert cp932, "no CP932 file in the sample"


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
