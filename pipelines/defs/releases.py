"""Releasing a held submission as a Dagster job: the same as `welfare release`, launched with
config from the UI (Launchpad), and kept in the run history."""

import dagster as dg

from pipelines.defs.jobs import RELEASE_JOB
from pipelines.defs.progress import say_to
from pipelines.defs.resources import WelfareSettings
from pipelines.ingest.release import release_submission as release


class ReleaseConfig(dg.Config):
    submission: str  # the held file's name, landing path or SHA-256 (at least 8 characters)
    released_by: str  # who confirmed the held values with the sender
    reason: str  # what was confirmed


@dg.op(
    description="Record that a held submission may load as it is (who, when, why); the next "
    "warehouse run shows its figures.",
)
def release_submission(
    context: dg.OpExecutionContext, config: ReleaseConfig, welfare: WelfareSettings
) -> dg.Output[str]:
    done = release(welfare.get(), config.submission, config.released_by, config.reason)
    say_to(context)(f"released {done.file_name} ({done.sha256[:12]}) by {done.released_by}")
    return dg.Output(
        done.sha256,
        metadata={
            "file_name": done.file_name,
            "source": done.source,
            "released_by": done.released_by,
            "reason": done.reason,
            "findings": done.findings or "",
        },
    )


@dg.job(
    name=RELEASE_JOB,
    description="確認待ちの解除: release a held submission after confirming it with the sender.",
)
def release_job() -> None:
    release_submission()
