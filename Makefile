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
export BENTOML_DO_NOT_TRACK := true
PORT ?= 3000
PACKAGE_ARGS ?=

.PHONY: help install run repro test test-fast lint format report calibration package serve fuzz bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

install: $(STAMP) ## create .venv from the lock file (python3 is all a fresh machine needs)

run: install ## reproduce the pipeline on the embedded sample and print what it produced
	dvc repro
	python -m commute_weather.summary

repro: install ## dvc repro only
	dvc repro

test: install ## the whole test suite, end-to-end tests included (what CI runs)
	pytest -m "slow or not slow" -n 2 --dist loadgroup

test-fast: install ## unit, contract and model tests only (seconds)
	pytest -n 2

lint: install ## ruff, format check, mypy
	ruff check .
	ruff format --check .
	mypy

format: install ## apply ruff's fixes and formatting
	ruff check --fix .
	ruff format .

package: install ## save the gate-approved model and build the bento, both versioned with the Git SHA
	$(UV) export --frozen --no-default-groups --no-emit-project --no-hashes --format requirements-txt \
		--quiet -o src/requirements-serve.txt
	python -m commute_weather.packaging $(PACKAGE_ARGS)

serve: install ## serve the packaged model on http://127.0.0.1:$(PORT) (after make package)
	bentoml serve commute_weather.service:CommuteComfort --host 127.0.0.1 --port $(PORT)

fuzz: install ## schemathesis, every check, >= 3,000 requests, plus nasty inputs, on the packaged model (loopback)
	python -m tests.servers --max-examples $(or $(FUZZ_EXAMPLES),400)

report: install ## the PR report against BASE (default main): reports/pr/report.md with plots
	python -m commute_weather.report --base-rev $(or $(BASE),main) --out reports/pr/report.md

calibration: install ## compare the sample generator's climate with the real Cheongju export
	python -m commute_weather.calibration --real ../shared/kma/samples/OBS_ASOS_TIM_131_2022.csv

bench: repro ## benchmarks (~30 min): parse speed, serving vs FastAPI, pipeline scaling; BENCHMARKS.md
	python -m benchmarks.parsing
	python -m benchmarks.serving
	python -m benchmarks.pipeline

clean: ## remove environments and caches (pipeline outputs stay, dvc manages them)
	rm -rf $(TOOLS) $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
