# commute-weather: every command a developer or CI runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced
# Stages call `python -m commute_weather.<stage>`: the project's environment comes first on PATH, then uv
# (bentoml build calls it).
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/$(TOOLS)/bin:$(PATH)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Compile every installed module to bytecode at install time. Python otherwise compiles on first import and
# caches the result, except where PYTHONDONTWRITEBYTECODE is set (as on these machines): then each of the
# pipeline's 21 stage processes compiled scikit-learn, SciPy and pandas from source again, 3-5 s a stage
# (`import sklearn` 4.8 s vs 1.5 s compiled; every stage once, 360 s vs 212 s: BENCHMARKS.md). It costs
# 15-30 s once, at install.
export UV_COMPILE_BYTECODE := 1
# The interpreter .venv is built with (3.11, 3.12 or 3.13): `make install PYTHON=3.12` (a version or a path),
# or UV_PYTHON from the environment; otherwise uv takes the first supported one on PATH. After a change,
# `make clean install`: .venv is rebuilt only when uv.lock or pyproject.toml change.
ifdef PYTHON
export UV_PYTHON := $(PYTHON)
endif
export BENTOML_DO_NOT_TRACK := true
PORT ?= 3000
# `make mutate MODULES="comfort gate"` mutates only those of comfort, features, model and gate (all four take
# hours on 2 cores; comfort and gate ~5 min); MUTANTS='*calibrate*' only the mutants whose names match.
MODULES ?=
MUTANTS ?=
PACKAGE_ARGS ?=
# `make container IMAGE=registry/name:tag` names the image (default commute_comfort:<git sha>).
IMAGE ?=
# The Git revision whose committed metrics and test predictions (read through DVC) are the approved model's,
# for the gate's regression check: the version of the model registry (GTO tags) in stage prod, assigned by
# the deploy workflow after production's rollout and smoke request; until one is, the older tag
# deployed/production; else none (the check is skipped, saying so).
REFERENCE_REV ?= $(shell GTO=$(CURDIR)/$(VENV)/bin/gto scripts/ci/registry.sh reference 2>/dev/null)

.PHONY: help install run repro check-repro-clean test test-fast lint format report monitor retrain registry calibration \
	package container serve fuzz bench mutate clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --locked
	@touch $@

install: $(STAMP) ## create .venv from uv.lock (fails when uv.lock is out of date with pyproject.toml)

run: install ## reproduce the pipeline on every dataset (real record first) and print what it produced
	dvc repro
	python -m commute_weather.pipeline.summary

repro: install ## dvc repro only
	dvc repro

check-repro-clean: ## fail, listing them, when `make repro` changed committed files (stale dvc.lock)
	scripts/ci/check-repro-clean.sh

test: install ## the whole test suite, end-to-end tests included (what CI runs)
	pytest -m "slow or not slow" -n 2 --dist loadgroup

test-fast: install ## unit, contract and model tests only (seconds)
	pytest -n 2

lint: install ## ruff, format check, mypy, the import layers (ARCHITECTURE.md)
	ruff check .
	ruff format --check .
	mypy
	lint-imports --no-logo

format: install ## apply ruff's fixes and formatting
	ruff check --fix .
	ruff format .

package: install ## save the gate-approved model, build the bento (Git SHA); regression vs REFERENCE_REV
	$(UV) export --frozen --no-default-groups --no-emit-project --no-hashes --format requirements-txt \
		--quiet -o src/requirements-serve.txt
	@if [ -n "$(REFERENCE_REV)" ] && git rev-parse --verify --quiet "$(REFERENCE_REV)^{commit}" >/dev/null; then \
		reference=(--reference-rev "$(REFERENCE_REV)"); \
		echo "regression check against $(REFERENCE_REV) ($$(git rev-parse --short "$(REFERENCE_REV)^{commit}"))"; \
	else \
		reference=(); \
		echo "regression check skipped: no revision '$(REFERENCE_REV)' here (nothing deployed to production yet, or the tag not fetched)"; \
	fi; \
	set -x; python -m commute_weather.serving.packaging "$${reference[@]}" $(PACKAGE_ARGS)

container: install ## the OCI image of the packaged bento, commute_comfort:<git sha> (Docker, else buildah/podman)
	scripts/ci/build-image.sh $(IMAGE)

serve: install ## serve the packaged model on http://127.0.0.1:$(PORT) (after make package)
	bentoml serve commute_weather.serving.service:CommuteComfort --host 127.0.0.1 --port $(PORT)

fuzz: install ## schemathesis, every check, >= 3,000 requests, plus nasty inputs, on the packaged model (loopback)
	python -m tests.servers --max-examples $(or $(FUZZ_EXAMPLES),400)

monitor: install ## the served model (MODEL_REV=rev; LIVE=1: KMA's latest weather) on the last monitor.days; exit 3 = alert
	python -m commute_weather.reporting.monitor $(if $(MODEL_REV),--model-rev $(MODEL_REV)) $(if $(LIVE),--kma) \
		--markdown reports/monitor/report.md --json reports/monitor/report.json \
		--history reports/monitor/history.jsonl --plot reports/monitor/forecasts.png

retrain: install ## KMA_AUTH_KEY: fetch new months of retrain.live; enough new windows -> dvc repro, one PR (cml)
	python -m commute_weather.retrain $(if $(GITHUB_STEP_SUMMARY),--summary "$(GITHUB_STEP_SUMMARY)")

registry: install ## the model registry (GTO tags): REGISTRY="register SHA" | "assign staging|prod SHA" | reference
	scripts/ci/registry.sh $(or $(REGISTRY),reference)

report: install ## the PR report against BASE (default main): reports/pr/report.md with plots
	python -m commute_weather.reporting.pr_report --base-rev $(or $(BASE),main) --out reports/pr/report.md

calibration: install ## the sample beside the embedded real Cheongju record: predictability, daily cycles, wind, climate
	python -m commute_weather.sources.sample_calibration --real data/external/cheongju --out reports/calibration.json

bench: repro ## benchmarks (~30 min): parse speed, serving vs FastAPI, pipeline scaling; BENCHMARKS.md
	python -m benchmarks.parsing
	python -m benchmarks.serving
	python -m benchmarks.pipeline

mutate: install ## mutation smoke check (mutmut, not in CI) of MODULES (comfort features model gate) [MUTANTS=glob]
	OMP_NUM_THREADS=1 python scripts/mutate.py $(MODULES) $(if $(MUTANTS),--mutants '$(MUTANTS)')

clean: ## remove environments and caches (pipeline outputs stay, dvc manages them)
	rm -rf $(TOOLS) $(VENV) mutants .pytest_cache .mypy_cache .ruff_cache .hypothesis
