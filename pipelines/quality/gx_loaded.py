"""Importing this module imports great-expectations as the checks do
(:func:`pipelines.quality.suites.import_great_expectations`): for processes that preload
modules by name, such as the page's check forkserver."""

from pipelines.quality.suites import import_great_expectations

import_great_expectations()
