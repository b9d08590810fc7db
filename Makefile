# The two commands a newcomer runs: `make run` and `make test`. Both set themselves up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv: installed with pip when missing; `python3 -m uv` works wherever pip put it.
UV = $(shell command -v uv 2>/dev/null || echo python3 -m uv)
# Where everything the pipeline keeps lives; unset or empty: data/ here.
ifeq ($(strip $(WELFARE_HOME)),)
override WELFARE_HOME := $(CURDIR)/data
endif
# Absolute: the recipes run commands in other folders (lint runs dbt in the home).
override WELFARE_HOME := $(abspath $(WELFARE_HOME))
export WELFARE_HOME
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := False
export DAGSTER_HOME := $(WELFARE_HOME)/dagster
export PYTHONUTF8 := 1

.PHONY: help setup test-setup browser-setup run test test-spark spark-setup spark-cluster run-spark lint serve ui docs benchmark sample clean

help:
	@echo "make run    - set up, load the sample submissions, run the whole pipeline once"
	@echo "make test   - set up, lint, check the Dagster definitions, run every test (Spark included)"
	@echo "make serve  - the submission page for ward staff on http://127.0.0.1:8000 (accounts: welfare users add)"
	@echo "make ui     - the Dagster UI on http://127.0.0.1:3000"
	@echo "make docs   - build and serve the dbt docs on http://127.0.0.1:8080"
	@echo "make test-spark - the whole job on a Spark cluster started on 127.0.0.1 (master, worker,"
	@echo "                 Thrift server), every published table compared with DuckDB's"
	@echo "make spark-cluster - start such a cluster to try WELFARE_ENGINE=spark by hand (make run-spark)"
	@echo "make setup / test-setup / spark-setup / browser-setup - only the set-up (run and test do"
	@echo "                 their own): the environment, and the Debian packages that are missing"
	@echo "make benchmark - the whole job on 1M and 10M consultation rows (and one more month, and"
	@echo "                 nothing new) against a hand-written DuckDB floor; reading one export; extracts;"
	@echo "                 zip bombs refused (memory) and the submission page under four large checks"

# Debian packages, installed only when missing (each with the command that tells it is there), in
# one apt-get call: a Japanese font for the report's charts, Chromium for the browser tests, Java
# for the Spark test cluster.
# Waits for another apt-get (make -j, unattended upgrades) instead of failing on its lock.
APT = apt-get -o DPkg::Lock::Timeout=300
APT_INSTALL = $(APT) install -y -qq --no-install-recommends
HAVE_fonts-noto-cjk = fc-list :lang=ja family | grep -q "Noto Sans CJK JP"
HAVE_chromium = command -v chromium >/dev/null
HAVE_openjdk-17-jre-headless = command -v java >/dev/null
# A shell command: installs those of the packages $(1) that are missing, or says what to run.
apt_ensure = missing=""; $(foreach p,$(1),$(HAVE_$(p)) || missing="$$missing $(p)";) \
	[ -z "$$missing" ] || { echo "Installing$$missing (Debian)"; \
		( $(APT_INSTALL) $$missing >/dev/null 2>&1 || \
			{ $(APT) update -qq >/dev/null && $(APT_INSTALL) $$missing >/dev/null; } ) || \
		{ echo "Could not install$$missing: run 'sudo apt-get install$$missing'"; exit 1; }; }

# --compile-bytecode: Python reads .pyc files even where PYTHONDONTWRITEBYTECODE forbids writing
# them (as on CI machines); without them every process compiles dagster, dbt and GX again
# (about 7 s per `welfare run`, more per test process).
# --inexact: a package the lock has but this target does not ask for (the Spark extra, which
# `make test` adds) stays; `make lint` inside `make test` must not take it from the Spark suite.
UV_SYNC = $(UV) sync --locked --inexact --quiet --compile-bytecode
# The project's environment (uv's downloads; $(2): extras) and the Debian packages $(1) (apt's)
# at the same time: on a new machine neither waits for the other.
define setup_with
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV_SYNC) $(2) & sync=$$!; ( $(call apt_ensure,$(1)) ); packages=$$?; wait $$sync; synced=$$?; \
		exit $$(( synced != 0 ? synced : packages ))
endef

setup:
	$(call setup_with,fonts-noto-cjk)

# What the tests need before they start (Java too: a missing one is said now, not at the end),
# and the Spark extra (PySpark, PyHive, dbt-spark) in the project's one environment: the Spark
# suite runs beside the others from the same files (a second environment cost ~27 s of CPU
# to compile the same packages again). `make setup` does not install it.
test-setup:
	$(call setup_with,fonts-noto-cjk chromium openjdk-17-jre-headless,--extra spark)

browser-setup:
	@( $(call apt_ensure,chromium) )

run: setup
	@$(UV) run welfare load-sample
	@$(UV) run welfare run

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run welfare prepare >/dev/null
	@# sqlfluff's dbt templater starts from the parse `welfare prepare` left (same target and
	@# paths: dbt does not parse the whole project again, ~3 s of CPU).
	@mkdir -p $(WELFARE_HOME)/work/lint_target && \
		cp $(WELFARE_HOME)/work/dbt_target/partial_parse.msgpack $(WELFARE_HOME)/work/lint_target/
	@# dbt runs in the home, as every dbt process of the pipeline does (the profile's paths
	@# are relative to it: pipelines/foundation/settings.py, Settings.dbt_env).
	cd $(WELFARE_HOME) && DBT_TARGET=duckdb WELFARE_LAKE=lake WELFARE_WORKING_DB=work/warehouse.duckdb \
		DBT_PROJECT_DIR=$(CURDIR)/dbt_project DBT_PROFILES_DIR=$(CURDIR)/dbt_project \
		DBT_TARGET_PATH=$(WELFARE_HOME)/work/lint_target DBT_LOG_PATH=$(WELFARE_HOME)/work/logs/dbt \
		$(UV) run --project $(CURDIR) sqlfluff lint --config $(CURDIR)/dbt_project/.sqlfluff $(CURDIR)/dbt_project/models $(CURDIR)/dbt_project/tests

# Four suites run beside the main one, their output shown at the end; `make test` fails if
# anything fails: the Spark suite (the whole job on a local Spark cluster), then in the same
# slot the year's close (tests/test_final_figures.py); the operator's bad week (kills, a full
# disk: tests/test_operations.py); the other tests marked `background` (the submission page
# in Chromium and under concurrent requests, the incremental build's runs); and lint. The
# pytest processes share one run of the sample (WELFARE_TEST_SHARED: the first to need it
# builds it, the others copy it). The machine's two cores are the limit: the main, Spark and
# operator's suites run at full priority, the other background tests at nice 5, lint at
# nice 10.
BACKGROUND = $(UV) run pytest --ignore=tests/spark -m background
# The council's and operator's long tests: the bad week, the survey calendar and a held file's
# release in one process; the year's close after the Spark suite, which ends minutes before
# the others (measured: with the year's close among the operator's tests, that process ended
# last, alone on one core for its last 25 s).
AFTER_SPARK = tests/test_final_figures.py
OPERATOR_FILES = tests/test_operations.py tests/test_survey_cycle.py
OPERATOR_NODES = tests/test_quality.py::test_an_error_holds_back_that_file_alone_until_it_is_released
# make itself, for the test recipe's own steps: named through a variable so that `make -n test`
# prints the recipe instead of running it (make runs a line that names the MAKE variable itself
# even under -n).
SUBMAKE = $(MAKE) --no-print-directory
test: test-setup
	@mkdir -p $(WELFARE_HOME)
	@# A small disk the bad-week test mounted, left by a test run that was killed.
	@grep -o " $(WELFARE_HOME)/test-[^ ]*" /proc/mounts 2>/dev/null | xargs -r umount 2>/dev/null || true
	@rm -rf $(WELFARE_HOME)/test-shared
	@export WELFARE_TEST_SHARED=$(WELFARE_HOME)/test-shared; \
	{ $(SPARK_TEST) --basetemp=$(WELFARE_HOME)/test-spark > $(WELFARE_HOME)/test-spark.log 2>&1; \
		spark_rc=$$?; $(BACKGROUND) $(AFTER_SPARK) --basetemp=$(WELFARE_HOME)/test-close \
		> $(WELFARE_HOME)/test-close.log 2>&1 && exit $$spark_rc; } & \
	spark=$$!; \
	$(BACKGROUND) $(OPERATOR_FILES) $(OPERATOR_NODES) --basetemp=$(WELFARE_HOME)/test-badweek \
		> $(WELFARE_HOME)/test-badweek.log 2>&1 & \
	badweek=$$!; \
	nice -n 5 $(BACKGROUND) $(OPERATOR_FILES:%=--ignore=%) $(AFTER_SPARK:%=--ignore=%) $(OPERATOR_NODES:%=--deselect=%) --basetemp=$(WELFARE_HOME)/test-background \
		> $(WELFARE_HOME)/test-background.log 2>&1 & \
	background=$$!; \
	{ nice -n 10 $(SUBMAKE) lint && nice -n 10 $(UV) run dg check defs; } > $(WELFARE_HOME)/lint.log 2>&1 & \
	lint=$$!; \
	$(UV) run pytest --ignore=tests/spark -m "not background"; main=$$?; \
	wait $$badweek; badweek_rc=$$?; \
	echo "── the operator's bad week, the survey calendar, a held file's release (marked background) ──"; \
	cat $(WELFARE_HOME)/test-badweek.log; \
	wait $$background; background_rc=$$?; \
	echo "── other tests marked background (the submission page in Chromium, incremental builds) ──"; \
	cat $(WELFARE_HOME)/test-background.log; \
	wait $$lint; lint_rc=$$?; \
	echo "── lint and dg check defs ──"; cat $(WELFARE_HOME)/lint.log; \
	wait $$spark; spark_rc=$$?; \
	echo "── Spark cluster (make test-spark) ──"; cat $(WELFARE_HOME)/test-spark.log; \
	echo "── the year's close (marked background; after the Spark suite) ──"; \
	cat $(WELFARE_HOME)/test-close.log 2>/dev/null; \
	exit $$(( main != 0 ? main : badweek_rc != 0 ? badweek_rc : background_rc != 0 ? background_rc : lint_rc != 0 ? lint_rc : spark_rc ))

# The Spark target: Java and the Spark extra (the default install, `make setup`, stays without).
spark-setup:
	$(call setup_with,fonts-noto-cjk openjdk-17-jre-headless,--extra spark)

SPARK_TEST = $(UV) run --no-sync pytest tests/spark

test-spark: spark-setup
	$(SPARK_TEST)

spark-cluster: spark-setup
	$(UV) run --no-sync python -m tests.spark.local_cluster

# The sample through the whole job on a Spark cluster (WELFARE_SPARK_HOST/PORT say where).
run-spark: spark-setup
	@$(UV) run --no-sync welfare load-sample
	@WELFARE_ENGINE=spark $(UV) run --no-sync welfare run

serve: setup
	@$(UV) run welfare prepare >/dev/null
	$(UV) run welfare serve

ui: setup
	@$(UV) run welfare prepare
	$(UV) run dagster dev -m pipelines.definitions -h 127.0.0.1 -p 3000

docs: setup
	@$(UV) run welfare prepare >/dev/null
	$(UV) run welfare dbt-docs --serve

BENCHMARK_ROWS ?= 1000000 10000000
benchmark: setup
	$(UV) run python tests/benchmarks/bench_job.py $(BENCHMARK_ROWS)
	$(UV) run python tests/benchmarks/bench_consultations.py
	$(UV) run python tests/benchmarks/bench_extract.py
	$(UV) run python tests/benchmarks/bench_web.py
	$(UV) run python tests/benchmarks/bench_latency.py

sample: setup
	$(UV) run python sources/generate_sample.py

clean:
	rm -rf data dbt_project/target .pytest_cache .ruff_cache
