"""The benchmark (`make benchmark`, tests/benchmarks/bench_job.py) in small: its generator's
consultation exports through the whole job in a fresh WELFARE_HOME, the published marts equal
to the generator's truth, then a run with nothing new that skips. The timings are the
benchmark's business (these machines are noisy); here only what they rest on."""

from __future__ import annotations

import shutil

from pipelines.runner import run_pipeline
from tests.benchmarks.bench_job import generate, published_counts

ROWS, MONTHS = 50_000, 12  # the benchmark: 1,000,000 and 10,000,000 rows in 120 months


def test_the_benchmark_in_small_equals_its_truth_and_nothing_new_skips(new_home, tmp_path):
    files, truth = generate(tmp_path / "exports", ROWS, MONTHS)
    landing = new_home.landing_for("consultations")
    for path in files:  # CP932 and UTF-8 with BOM, 和暦 and Western dates, personal data
        shutil.copy2(path, landing / path.name)

    first = run_pipeline(new_home)
    assert first.success and first.published, first.failed_steps
    assert len(first.files) == MONTHS and set(first.files["status"]) == {"loaded"}
    assert first.files["rows_loaded"].sum() == sum(truth.values())  # 4,166 a month
    assert published_counts(new_home.home) == truth  # month × channel × requester × topic

    published = new_home.warehouse.read_bytes()
    again = run_pipeline(new_home)
    assert again.success and again.skipped  # no dbt build, no suite: nothing was new
    assert new_home.warehouse.read_bytes() == published
