"""The Dagster code location: ``dagster dev -m pipelines.definitions`` or ``dg dev``.

Importing this module reads the dbt manifest (prepared by ``welfare prepare``); it never runs
dbt and never imports great-expectations.
"""

from pipelines.defs.build import build_definitions
from pipelines.foundation.settings import Settings

defs = build_definitions(Settings.from_env())
