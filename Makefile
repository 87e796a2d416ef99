# Two commands do everything on a fresh machine: `make run` and `make test`.
# Both create the virtual environment, install, and compile the translations first.

VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
PYTHON  ?= python3

.PHONY: install system-deps i18n compile migrate run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Chromium and Noto fonts for the browser test (apt-get, only when missing).
system-deps:
	sh scripts/system-deps.sh

# Translators: extract new messages from the source into every .po, then compile.
i18n: install
	$(PY) scripts/i18n.py update
	$(PY) scripts/i18n.py compile

compile: install
	$(PY) scripts/i18n.py compile

migrate: install
	$(PY) -m bot migrate

run: compile migrate
	$(PY) -m bot run

test: compile system-deps
	$(PY) -m pytest -q $(PYTEST_ARGS)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
	find locales -name '*.mo' -delete
