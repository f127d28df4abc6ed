# isles-portal. `make demo` runs the portal with a demo challenge; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
VAR_DIR ?= $(CURDIR)/var
export VAR_DIR

.PHONY: demo test lint format bench-evaluation bench-jobs clean bench-leaderboard bench-viewer bench-download bench-workers

# The virtual environment is rebuilt when pyproject.toml changes; the stamp file records the last install.
$(VENV): $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)
	DJANGO_DEBUG=1 $(BIN)/python manage.py demo --port $(PORT)

lint: $(VENV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: $(VENV) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench-evaluation: $(VENV)
	$(BIN)/python -m tests.bench.evaluation

bench-leaderboard: $(VENV)
	$(BIN)/python -m tests.bench.leaderboard

bench-jobs: $(VENV)
	$(BIN)/python -m tests.bench.jobs

bench-viewer: $(VENV)
	$(BIN)/python -m tests.bench.viewer

bench-download: $(VENV)
	$(BIN)/python -m tests.bench.download

bench-workers: $(VENV)
	$(BIN)/python -m tests.bench.workers

clean:
	rm -rf $(VENV) var
