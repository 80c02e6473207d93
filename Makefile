# Two commands do all the set-up on a fresh clone:
#   make up    create .venv, install, start the stack with the demo data
#   make test  create .venv, install, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install up test lint schemas bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/jobmatch up --demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy schemas services tests bench

schemas: $(STAMP)
	$(BIN)/jobmatch schemas export

bench: $(STAMP)
	$(BIN)/python bench/linking.py
	$(BIN)/python bench/exposure.py
	$(BIN)/python bench/matching_latency.py
	$(BIN)/python bench/throughput.py $(ARGS)
	$(BIN)/python bench/auth.py

clean:
	rm -rf $(VENV) var
