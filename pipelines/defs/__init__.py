"""The Dagster layer, kept thin: assets, checks, jobs, the schedule and sensors, resources;
and the runner that executes the job for `welfare run`. Modules that import Dagster are only
imported when a run, the UI or the daemon needs them."""
