"""The Dagster UI: the webserver serves the code location with its assets, schedule and sensors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow

QUERY = """
{
  assetNodes { assetKey { path } }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes { schedules { name cronSchedule executionTimezone } sensors { name } }
    }
  }
}
"""


def test_the_webserver_shows_assets_schedule_and_sensors(new_home):
    home = new_home
    port = free_port()
    env = {**os.environ, "WELFARE_HOME": str(home.home), "DAGSTER_HOME": str(home.dagster_home)}
    webserver = Path(sys.executable).with_name("dagster-webserver")
    process = subprocess.Popen(
        [str(webserver), "-m", "pipelines.definitions", "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql",
                    data=json.dumps({"query": QUERY}).encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=10) as response:
                    data = json.load(response)["data"]
                if data and data["assetNodes"]:
                    break
            except (OSError, KeyError, TypeError):
                pass
            assert time.monotonic() < deadline, "webserver did not come up"
            assert process.poll() is None, "webserver exited"
            time.sleep(1)
    finally:
        process.terminate()
        process.wait(timeout=30)
    keys = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
    assert {"lake/ibasho_survey", "marts/place_counts", "published_warehouse"} <= keys
    [repository] = data["repositoriesOrError"]["nodes"]
    schedules = {
        (s["name"], s["cronSchedule"], s["executionTimezone"]) for s in repository["schedules"]
    }
    assert schedules == {
        ("nightly_warehouse", "0 2 * * *", "Asia/Tokyo"),
        ("daily_reminders", "0 9 * * *", "Asia/Tokyo"),
    }
    sensors = {s["name"] for s in repository["sensors"]}
    assert {"landing_sensor", "run_failure_recorder"} <= sensors
