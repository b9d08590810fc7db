"""Every command a newcomer is shown works: the README's quick start after `make run`, and
every shell, SQL and Python block of docs/analysts.md, against the published sample (the
home's path in place of ``data/``); the published file opens in the DuckDB command line of the
registry (an older DuckDB than the pipeline's). The project's documents link nothing outside
the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.foundation.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

README = PROJECT_ROOT / "README.md"
ANALYSTS = PROJECT_ROOT / "docs" / "analysts.md"
DUCKDB_CLI = Path(sys.executable).with_name("duckdb")


def blocks(path: Path, language: str, section: str | None = None) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if section is not None:
        text = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def in_home(command: str, home: Path) -> str:
    """The command as a newcomer runs it, with the home the test published in ./data's place."""
    return command.replace("data/", f"{home}/")


# `uv run X` is X from the project's environment; where uv itself is not on PATH (it may be
# installed as `python3 -m uv`), a shell function says the same.
UV_FALLBACK = 'command -v uv >/dev/null || uv() { [ "$1" = run ] && shift; "$@"; }\n'


def run_shell(command: str, home: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "WELFARE_HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", UV_FALLBACK + in_home(command, home)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_quick_starts_commands_after_make_run_work(published_home):
    home = published_home.home
    [setup, *after] = blocks(README, "sh", "Quick start")
    assert "make run" in setup and "make test" in setup  # the two commands themselves
    for block in after:
        done = run_shell(block, home)
        assert done.returncode == 0, block + done.stdout + done.stderr
        assert "Error" not in done.stderr, done.stderr
    assert "2182" in run_shell(after[0], home).stdout.replace(",", "")


def test_every_block_of_the_analysts_guide_works_with_the_published_warehouse(published_home):
    home = published_home.home
    for block in blocks(ANALYSTS, "sh"):
        done = run_shell(block, home)
        assert done.returncode == 0, block + done.stdout + done.stderr
    for sql in blocks(ANALYSTS, "sql"):
        done = subprocess.run(
            [
                str(DUCKDB_CLI),
                "-readonly",
                str(home / "warehouse.duckdb"),
                "-c",
                in_home(sql, home),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0 and "Error" not in done.stderr, sql + done.stderr
    for code in blocks(ANALYSTS, "python"):
        done = subprocess.run(
            [sys.executable, "-c", in_home(code, home)],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, code + done.stderr


def test_the_published_file_opens_in_an_older_duckdb_as_written_for_analysts(published_home):
    version = subprocess.run(
        [str(DUCKDB_CLI), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert version.startswith("v1."), version  # the registry's CLI lags the pipeline's DuckDB
    done = subprocess.run(
        [
            str(DUCKDB_CLI),
            "-readonly",
            str(published_home.warehouse),
            "-c",
            "select count(*) from audit.submissions",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_projects_documents_link_nothing_outside_the_repository():
    outside = []
    for document in [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)]+)\)", document.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "#")):
                continue
            if not (document.parent / target.split("#")[0]).resolve().is_relative_to(PROJECT_ROOT):
                outside.append(f"{document.name}: {target}")
            elif not (document.parent / target.split("#")[0]).exists():
                outside.append(f"{document.name}: {target} (missing)")
    assert outside == []
    assert not re.search(r"SUBMISSIONS\.md|DESIGN-NOTES|\.\./shared", README.read_text("utf-8"))
