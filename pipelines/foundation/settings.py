"""Where everything lives. The one place that reads the environment (WELFARE_HOME).

Two different WELFARE_HOMEs never share a file: every path below derives from ``home``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SAMPLE_DIR = PROJECT_ROOT / "sources" / "sample"
REFERENCE_DIR = PROJECT_ROOT / "sources" / "reference"  # code lists, wards: read and seeded
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
# The code and what it reads as it starts: a standing process (pipelines.foundation.standing)
# serves only commands of the same, and starts itself again when any of them changes.
CODE_PATHS = tuple(
    PROJECT_ROOT / name for name in ("pipelines", "sources", "expectations", "pyproject.toml")
)
DBT_DIRECTORY_ENV = "WELFARE_DBT_DIRECTORY"  # Settings.dbt_directory, for `welfare-dbt`


def dbt_executable() -> str:
    """dbt from the same environment as the running interpreter, so `.venv/bin/welfare run`
    works from cron or systemd without the environment on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


ENGINES = ("duckdb", "spark")


class EngineError(RuntimeError):
    """The engine cannot be used as configured: the message says what to set or start."""


class UnknownEngine(EngineError):
    pass


@dataclass(frozen=True)
class EngineSettings:
    """Which engine builds and publishes the warehouse (WELFARE_ENGINE), and how to reach it.

    ``duckdb`` (the default): one embedded file, published by copy. ``spark``: a Spark cluster
    through its Thrift server (HiveServer2 protocol), which dbt, the mart checks, publishing,
    the report and the extracts all use; ingestion still writes the lake here, at a location
    the cluster reads as ``lake_uri``.
    """

    kind: str = "duckdb"
    spark_host: str = "127.0.0.1"
    spark_port: int = 10000
    spark_user: str = "welfare"
    # Prefix of everything the pipeline creates on the cluster: <prefix>_build_<layer> (what a
    # run builds, private) and <prefix>_v<stamp> (published versions). Analysts query marts.*
    # and audit.*: views onto the current version.
    spark_prefix: str = "welfare"
    lake_uri: str | None = None  # how the cluster addresses the lake; default file://<lake>

    @classmethod
    def from_env(cls) -> EngineSettings:
        env = os.environ
        kind = env.get("WELFARE_ENGINE", "duckdb").strip().lower() or "duckdb"
        if kind not in ENGINES:
            raise UnknownEngine(
                f"WELFARE_ENGINE={kind!r} is not an engine this pipeline knows: use one of "
                f"{', '.join(ENGINES)} (see README, 'When one machine is not enough')."
            )
        return cls(
            kind=kind,
            spark_host=env.get("WELFARE_SPARK_HOST", cls.spark_host),
            spark_port=int(env.get("WELFARE_SPARK_PORT", cls.spark_port)),
            spark_user=env.get("WELFARE_SPARK_USER", cls.spark_user),
            spark_prefix=env.get("WELFARE_SPARK_PREFIX", cls.spark_prefix).lower(),
            lake_uri=env.get("WELFARE_LAKE_URI") or None,
        )

    @property
    def is_spark(self) -> bool:
        return self.kind == "spark"

    @property
    def dbt_target(self) -> str:
        return self.kind  # profiles.yml names its targets after the engines

    @property
    def spark_build_prefix(self) -> str:
        return f"{self.spark_prefix}_build"


class HomeError(ValueError):
    """WELFARE_HOME is a folder the warehouse cannot work in."""


# DuckDB's file_search_path (where the staging views find the lake) is a comma-separated
# list; the warehouse names its database files in single-quoted SQL (ATTACH); DuckDB reads a
# backslash as a path separator.
UNUSABLE_IN_HOME = {
    ",": ("カンマ（,）", "a comma (,)"),
    "'": ("引用符（'）", "a single quote (')"),
    "\\": ("バックスラッシュ（\\）", "a backslash (\\)"),
}


@dataclass(frozen=True)
class Settings:
    home: Path
    engine: EngineSettings = field(default_factory=EngineSettings.from_env)

    @classmethod
    def from_env(cls) -> Settings:
        # Unset or empty: data/ in the project (an empty one would be the current folder).
        home = Path(os.environ.get("WELFARE_HOME", "").strip() or PROJECT_ROOT / "data").resolve()
        if unusable := [c for c in UNUSABLE_IN_HOME if c in str(home)]:
            raise HomeError(
                f"WELFARE_HOME={home} の名前に "
                f"{'、'.join(UNUSABLE_IN_HOME[c][0] for c in unusable)} は使えません。"
                "別のフォルダを指定してください。 / WELFARE_HOME cannot contain "
                f"{' or '.join(UNUSABLE_IN_HOME[c][1] for c in unusable)} (DuckDB would take "
                "it for another path): choose another folder."
            )
        return cls(home)

    # Where submissions arrive and where their original bytes are kept forever.
    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    # The append-only Parquet lake: clean rows, quarantine and the ledger.
    @property
    def lake(self) -> Path:
        return self.home / "lake"

    # The private database dbt builds; analysts never open it.
    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    @property
    def working_db(self) -> Path:
        return self.work_dir / "warehouse.duckdb"

    # What analysts and researchers use.
    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def published(self) -> Path:
        return self.home / "published"

    @property
    def versions(self) -> Path:
        return self.published / "versions"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    # Packages handed to researchers: extracts/<name>/<timestamp>/ and its zip.
    @property
    def extracts(self) -> Path:
        return self.home / "extracts"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def dbt_target_dir(self) -> Path:
        return self.work_dir / "dbt_target"

    # Where the cluster reads the lake (WELFARE_LAKE_URI): the same folder as a file:// URI
    # here; in production a shared location both this machine and the cluster reach.
    @property
    def lake_uri(self) -> str:
        return (self.engine.lake_uri or self.lake.as_uri()).rstrip("/")

    # The submission page (pipelines.web): accounts, sessions' secret, uploads awaiting a
    # sender's confirmation. Nothing there is read by the pipeline.
    @property
    def web_dir(self) -> Path:
        return self.home / "web"

    def landing_for(self, source: str) -> Path:
        return self.landing / source

    # Where every dbt process of this home runs (its working directory). The profile names the
    # working database and the lake relative to it (dbt_env), so that dbt's parse does not
    # depend on where the home is: dbt parses the whole project again when anything in the
    # profile differs from its last parse, and a home copied or moved would pay it (~4 s of
    # CPU) on its next run. A dbt started anywhere else finds no `work/` folder and fails.
    @property
    def dbt_directory(self) -> Path:
        return self.home

    def dbt_env(self) -> dict[str, str]:
        """What dbt's profile and sources need to know; passed to every dbt process, which
        runs in :attr:`dbt_directory` (also named here, for `welfare-dbt`)."""
        return {
            "WELFARE_HOME": str(self.home),
            DBT_DIRECTORY_ENV: str(self.dbt_directory),
            "WELFARE_LAKE": str(self.lake.relative_to(self.dbt_directory)),
            "WELFARE_WORKING_DB": str(self.working_db.relative_to(self.dbt_directory)),
            "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
            "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
            "WELFARE_LAKE_URI": self.lake_uri,
            "WELFARE_SPARK_HOST": self.engine.spark_host,
            "WELFARE_SPARK_PORT": str(self.engine.spark_port),
            "WELFARE_SPARK_USER": self.engine.spark_user,
            "WELFARE_SPARK_BUILD_SCHEMA": self.engine.spark_build_prefix,
            # The day due dates are measured against (marts.submission_status).
            "WELFARE_TODAY": today().isoformat(),
            # The engine's target in profiles.yml (dbt reads DBT_TARGET; --target overrides).
            "DBT_TARGET": self.engine.dbt_target,
            # Where `welfare prepare` parsed the project: each run's dbt starts from that
            # partial parse instead of parsing the whole project again.
            "DBT_TARGET_PATH": str(self.dbt_target_dir),
            # No debug log file: the run's log (work/logs/run-*.log) keeps dbt's output, and
            # writing the file cost a tenth of a build's CPU. Any log dbt writes stays here.
            "DBT_LOG_LEVEL_FILE": "none",
            "DBT_LOG_PATH": str(self.work_dir / "logs" / "dbt"),
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        }

    def ensure(self) -> Settings:
        """The home's folders exist (each source's landing folder: pipelines.home.prepare)."""
        for path in (
            self.archive,
            self.lake,
            self.work_dir,
            self.published,
            self.versions,
            self.reports,
            self.dagster_home,
        ):
            path.mkdir(parents=True, exist_ok=True)
        self.landing.mkdir(parents=True, exist_ok=True)
        return self


@dataclass(frozen=True)
class WebSettings:
    """The submission page's settings (`welfare serve`), from the environment."""

    accounts_db: Path
    secret_key_file: Path
    session_minutes: float  # idle time after which a session ends
    secure_cookies: bool  # behind an HTTPS reverse proxy: cookies only over HTTPS
    check_workers: int | None = None  # processes checking uploads (None: up to 2, the cores)
    start_runs: bool = True  # a confirmed file starts the run that takes it in, at once

    @classmethod
    def from_env(cls, settings: Settings) -> WebSettings:
        env = os.environ
        return cls(
            accounts_db=Path(
                env.get("WELFARE_WEB_ACCOUNTS", settings.web_dir / "accounts.sqlite")
            ).resolve(),
            secret_key_file=settings.web_dir / "secret_key",
            session_minutes=float(env.get("WELFARE_WEB_SESSION_MINUTES", "60")),
            secure_cookies=env.get("WELFARE_WEB_SECURE_COOKIES", "0") == "1",
            check_workers=int(env["WELFARE_WEB_CHECK_WORKERS"])
            if env.get("WELFARE_WEB_CHECK_WORKERS")
            else None,
            start_runs=env.get("WELFARE_WEB_START_RUNS", "1") != "0",
        )


TOKYO = ZoneInfo("Asia/Tokyo")


class TodayError(ValueError):
    """WELFARE_TODAY is not a date."""


def today() -> dt.date:
    """The day due dates, timeliness and reminders are measured against: the date in Osaka,
    or WELFARE_TODAY=YYYY-MM-DD (drills and tests). Nothing else reads the clock for this."""
    given = os.environ.get("WELFARE_TODAY", "").strip()
    if not given:
        return dt.datetime.now(TOKYO).date()
    try:
        return dt.date.fromisoformat(given)
    except ValueError as error:
        raise TodayError(
            f"WELFARE_TODAY={given!r} は日付ではありません（例: 2025-06-01）。 / "
            f"WELFARE_TODAY={given!r} is not a date: write it as YYYY-MM-DD (e.g. 2025-06-01)."
        ) from error


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in this process's environment for the block; as they were after it."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
