# Set-up and everyday commands. Only python3 and make are needed on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve test pytest stress mutation lint format bench install migrate sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

# The catalog of tier ladders (never over a person's changes), then the samples in
# PARTNERS_INPUT_DIR, only into an empty database: a restart keeps your edits.
sample: migrate
	$(BIN)/python manage.py programs load
	$(BIN)/python manage.py load_samples

run: sample
	$(BIN)/python manage.py ensure_superuser --url http://$(HOST):$(PORT)/admin/
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py runserver $(HOST):$(PORT)

# Production-like: gunicorn with 2 workers, DEBUG off, static files collected and served by
# whitenoise. Put it behind a TLS proxy with DJANGO_HTTPS=1 (see README).
serve: migrate
	$(BIN)/python manage.py collectstatic --noinput -v0
	DJANGO_DEBUG=0 $(BIN)/gunicorn partnersite.wsgi --workers 2 --bind $(HOST):$(PORT) \
		--access-logfile - --timeout 120

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: lint pytest

pytest: $(STAMP)
	$(BIN)/python -m pytest -n 2 --cov --cov-report=term

# The long reliability runs: 200 kills, 50 rounds of concurrent writers.
stress: $(STAMP)
	PARTNERS_STRESS_KILLS=200 PARTNERS_STRESS_ROUNDS=50 $(BIN)/python -m pytest -p no:randomly tests/reliability

# Mutation testing (slow, not in CI): the score per module is in `mutmut results`.
mutation: $(STAMP)
	$(BIN)/mutmut run
	$(BIN)/mutmut results

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# BENCH_SIZES=1000000 for a million records (not in CI).
BENCH_SIZES ?= 10000,100000

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_sync.py --sizes $(BENCH_SIZES) --databases sqlite,postgres
	$(BIN)/python benchmarks/bench_admin.py
	$(BIN)/python benchmarks/bench_obsidian.py
	$(BIN)/python benchmarks/bench_api.py
	$(BIN)/python benchmarks/bench_ledger.py
	$(BIN)/python benchmarks/bench_ladders.py
	$(BIN)/python benchmarks/bench_vendor.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage staticfiles
