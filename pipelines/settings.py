"""Where everything lives. The one place that reads the environment (WELFARE_HOME).

Two different WELFARE_HOMEs never share a file: every path below derives from ``home``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SAMPLE_DIR = PROJECT_ROOT / "sources" / "sample"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


def dbt_executable() -> str:
    """dbt from the same environment as the running interpreter, so `.venv/bin/welfare run`
    works from cron or systemd without the environment on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


@dataclass(frozen=True)
class Settings:
    home: Path

    @classmethod
    def from_env(cls) -> Settings:
        return cls(Path(os.environ.get("WELFARE_HOME", PROJECT_ROOT / "data")).resolve())

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

    # The Spark target's catalog and tables (local mode; `make test-spark`).
    @property
    def spark_home(self) -> Path:
        return self.work_dir / "spark"

    # The submission page (pipelines.web): accounts, sessions' secret, uploads awaiting a
    # sender's confirmation. Nothing there is read by the pipeline.
    @property
    def web_dir(self) -> Path:
        return self.home / "web"

    def landing_for(self, source: str) -> Path:
        return self.landing / source

    def dbt_env(self) -> dict[str, str]:
        """What dbt's profile and sources need to know; passed to every dbt process."""
        return {
            "WELFARE_HOME": str(self.home),
            "WELFARE_LAKE": str(self.lake),
            "WELFARE_WORKING_DB": str(self.working_db),
            "WELFARE_SPARK_HOME": str(self.spark_home),
            # Where `welfare prepare` parsed the project: each run's dbt starts from that
            # partial parse instead of parsing the whole project again.
            "DBT_TARGET_PATH": str(self.dbt_target_dir),
            "DO_NOT_TRACK": "1",
            # Spark (the `spark` target) binds its driver to loopback, not the host's address.
            "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        }

    def ensure(self) -> Settings:
        from pipelines.ingest.contract import SOURCE_KEYS

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
        for source in SOURCE_KEYS:
            self.landing_for(source).mkdir(parents=True, exist_ok=True)
        return self


@dataclass(frozen=True)
class WebSettings:
    """The submission page's settings (`welfare serve`), from the environment."""

    accounts_db: Path
    secret_key_file: Path
    session_minutes: float  # idle time after which a session ends
    secure_cookies: bool  # behind an HTTPS reverse proxy: cookies only over HTTPS

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
        )
