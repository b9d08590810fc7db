"""Shared fixtures: real files, a real WELFARE_HOME, a real pipeline run."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import openpyxl
import pytest

from pipelines.defs.instance import write_dagster_yaml
from pipelines.defs.runner import run_pipeline
from pipelines.foundation.settings import PROJECT_ROOT, SAMPLE_DIR, Settings
from pipelines.home import prepare
from pipelines.ingest.landing import prepare_landing
from pipelines.ingest.sample import load_sample

# Hypothesis keeps its examples and caches outside the source tree.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "welfare-hypothesis")
)
# The day due dates are measured against: fixed, so that what the sample's submissions owe
# does not change with the date the tests run on (after FY2024's due dates, before FY2025's).
# Tests of the calendar set their own days.
os.environ.setdefault("WELFARE_TODAY", "2025-07-01")
# A file confirmed on the page starts no run of its own: a test runs the pipeline when it
# means to (the browser's walk-through turns it on).
os.environ.setdefault("WELFARE_WEB_START_RUNS", "0")
# What tests leave for people to look at (screenshots, the cluster's measurements): under the
# WELFARE_HOME `make test` uses (default data/), never in the source tree.
ARTIFACTS = Path(os.environ.get("WELFARE_HOME") or PROJECT_ROOT / "data") / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")  # Debian's package
# Headless, as root, with nothing that phones home (the machine has no internet).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@dataclass(frozen=True)
class SeedFigures:
    """The figures the seed document publishes, which the sample must reproduce
    (docs/submissions.md, "The published figures the sample reproduces")."""

    places: Mapping[int, int] = field(
        default_factory=lambda: MappingProxyType({2022: 1791, 2023: 1920, 2024: 2182})
    )
    facilities_with_initiatives_2024: int = 339
    consultations_2024: int = 754


SEED = SeedFigures()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules that never use the shared sample run go first (their order otherwise kept): in
    `make test`, one process builds that run while the others would wait idle for it."""
    needs_sample = {
        item.module for item in items if "sample_run" in getattr(item, "fixturenames", ())
    }
    items.sort(key=lambda item: item.module in needs_sample)  # stable: whole modules move


def write_csv(path: Path, lines: Iterable[str], encoding: str = "utf-8") -> Path:
    text = "\r\n".join(lines) + "\r\n"
    data = text.encode("cp932" if encoding == "cp932" else "utf-8")
    if encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def xlsx_bytes(sheets: dict[str, list[list]]) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def zip_bomb_xlsx(
    header: list,
    unzipped_mb: int = 300,
    part: str = "xl/worksheets/sheet1.xml",
    also: dict[str, int] | None = None,
    extra_entries: int = 0,
) -> bytes:
    """A small workbook whose ``part`` unzips to ``unzipped_mb`` MB of XML (a zip bomb); with
    ``also`` more parts of so many MB each, with ``extra_entries`` that many tiny extra
    parts."""
    import zipfile

    sizes = {part: unzipped_mb, **(also or {})}
    template = zipfile.ZipFile(io.BytesIO(xlsx_bytes({"データ": [header]})))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
        for item in template.infolist():
            if item.filename not in sizes:
                target.writestr(item, template.read(item))
        for name, megabytes in sizes.items():
            with target.open(name, "w", force_zip64=True) as inflated:
                inflated.write(b'<?xml version="1.0"?><worksheet><sheetData>')
                row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * 20_000
                for _ in range(megabytes * 2**20 // len(row)):
                    inflated.write(row)
                inflated.write(b"</sheetData></worksheet>")
        for n in range(extra_entries):
            target.writestr(f"customXml/item{n}.xml", b"<x/>")
    return bomb.getvalue()


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(xlsx_bytes(sheets))
    return path


MINIMAL_PATH = "/usr/bin:/bin"  # as cron and systemd run it: the environment not on PATH


def welfare_cli(
    home: Path,
    *args: str,
    timeout: int = 600,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess:
    """Run the real `welfare` console script by its full path, with a minimal PATH (and the
    environment plus ``env``), ``stdin`` as its input."""
    env = {
        **os.environ,
        **(env or {}),
        "WELFARE_HOME": str(home),
        "DO_NOT_TRACK": "1",
        "PATH": MINIMAL_PATH,
    }
    executable = Path(sys.executable).with_name("welfare")
    return subprocess.run(
        [str(executable), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_site(settings: Settings, env: Mapping[str, str] | None = None):
    """The real submission page (`welfare serve`) on a free port of 127.0.0.1 for
    ``settings``' home: its base URL; stopped (its process group) when done."""
    port = free_port()
    log_path = settings.home / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("welfare")), "serve", "--port", str(port)],
            env={
                **os.environ,
                **(env or {}),
                "WELFARE_HOME": str(settings.home),
                "PATH": MINIMAL_PATH,
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/login", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the server did not answer within 60 s"
                time.sleep(0.3)
        try:
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # the server is not under test here: stop it
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    settings = Settings(tmp_path / "welfare_home").ensure()
    prepare_landing(settings)
    return settings


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory):
    """The shipped sample taken through the whole pipeline once (real Dagster, dbt, DuckDB).

    With WELFARE_TEST_SHARED set (as `make test` sets it for its parallel pytest processes),
    the first process to need it builds it and leaves a snapshot there; the others wait for
    it and start from a copy instead of running the pipeline again."""
    home = tmp_path_factory.mktemp("sample") / "welfare_home"
    shared = os.environ.get("WELFARE_TEST_SHARED")
    if not shared:
        return _build_sample_run(Settings(home))
    snapshot = Path(shared) / "sample_run"
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    with (snapshot.parent / "sample_run.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if (snapshot / "summary.pickle").exists():
            summary, built_at = pickle.loads((snapshot / "summary.pickle").read_bytes())
            if summary.report is not None:  # the paths it names, in this copy
                summary = replace(summary, report=home / summary.report.relative_to(built_at))
            return copy_home(snapshot / "welfare_home", home), summary
        settings, summary = _build_sample_run(Settings(home))
        copy_home(settings.home, snapshot / "welfare_home")
        (snapshot / "summary.pickle").write_bytes(pickle.dumps((summary, settings.home)))
        return settings, summary


def _build_sample_run(settings: Settings):
    # As `welfare run` does: the dbt parse runs while Dagster is imported, and the run's
    # definitions wait for it.
    parse = prepare(settings, wait=False)
    load_sample(settings)
    summary = run_pipeline(settings, parse=parse)
    return settings, summary


def copy_home(source: Path, target: Path) -> Settings:
    """A WELFARE_HOME copied whole (published, with its lake, archive, working database and
    Dagster history), its Dagster storage pointed at the copy."""
    # Not the temporary files of atomic writes another test may be making in the source.
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(".*.tmp-*"))
    copy = Settings(target)
    write_dagster_yaml(copy)  # its storage paths name the copy
    return copy


@pytest.fixture
def published_home(sample_run, tmp_path: Path) -> Settings:
    """A private copy of the sample run's WELFARE_HOME: published, with its lake, archive,
    working database and Dagster history. Tests that change a warehouse start from here
    instead of running the pipeline again; the shared sample run stays as it was built."""
    settings, _ = sample_run
    return copy_home(settings.home, tmp_path / "welfare_home")


@pytest.fixture
def new_home(sample_run, tmp_path: Path) -> Settings:
    """An empty, prepared WELFARE_HOME that reuses the sample run's parse of the dbt project
    (the manifest only draws the asset graph; `dbt parse` would cost seconds per home)."""
    settings, _ = sample_run
    fresh = Settings(tmp_path / "new_home").ensure()
    fresh.dbt_target_dir.mkdir(parents=True, exist_ok=True)
    for name in ("manifest.json", "manifest.fingerprint"):
        shutil.copy2(settings.dbt_target_dir / name, fresh.dbt_target_dir / name)
    prepare(fresh)
    return fresh


def ward_file(settings: Settings, name: str, rows: list[str], saved: float | None = None) -> Path:
    """A place-survey CSV in landing/ (the headers staff write), saved at ``saved``."""
    header = "年度,区名,地域名,活動ID,活動名称,活動種別,年間開催回数,延べ参加者数"
    path = write_csv(settings.landing_for("ibasho_survey") / name, [header, *rows])
    if saved is not None:
        os.utime(path, (saved, saved))
    return path


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE_DIR


def copy_sample(settings: Settings, source: str, name: str, new_name: str | None = None) -> Path:
    target = settings.landing_for(source) / (new_name or name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(SAMPLE_DIR / source / name, target)
    return target


def check_then_publish(settings: Settings, asset: list[str], check_name: str):
    """One mart's blocking check and the publish step alone, in this process, as the nightly
    job runs them (on the engine ``settings`` and the environment name): the run's result."""
    import dagster as dg

    from pipelines.defs.build import build_definitions
    from pipelines.defs.warehouse import PUBLISHED_KEY

    check = dg.AssetCheckKey(dg.AssetKey(asset), check_name)
    job = dg.define_asset_job(
        "publish_after_checks",
        selection=dg.AssetSelection.assets(PUBLISHED_KEY) | dg.AssetSelection.checks(check),
    )
    defs = dg.Definitions.merge(build_definitions(settings), dg.Definitions(jobs=[job]))
    with dg.instance_for_test() as instance:
        return defs.resolve_job_def("publish_after_checks").execute_in_process(
            instance=instance, raise_on_error=False
        )
