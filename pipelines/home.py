"""Setting up a WELFARE_HOME: what `welfare prepare` does, and every command before it runs.

Safe to repeat: folders (the landing folder of each source among them), the Dagster instance
(its file and storage), the lake (ready to be read), and the dbt project parsed for the home's
engine.
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines.defs.instance import create_storage, write_dagster_yaml
from pipelines.foundation.settings import Settings
from pipelines.ingest.landing import prepare_landing
from pipelines.intake.repair import initialize_lake
from pipelines.warehouse.dbt import ProjectParse, parse_project
from pipelines.warehouse.engine import ensure_installed


def prepare(
    settings: Settings, wait: bool = True, say: Callable[[str], None] | None = None
) -> ProjectParse:
    """Everything a WELFARE_HOME needs before the pipeline can run. The dbt project is parsed
    when its files changed: with ``wait`` False that parse is left running (`welfare run`
    imports Dagster meanwhile) and the returned parse gives the manifest when it is done."""
    ensure_installed(settings)
    settings.ensure()
    prepare_landing(settings)
    write_dagster_yaml(settings)
    create_storage(settings)
    initialize_lake(settings, say)
    parse = parse_project(settings)
    if wait:
        parse.manifest()
    return parse
