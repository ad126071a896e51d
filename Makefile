# Two commands do all set-up on a fresh machine:
#   make demo   install, then run the whole loop on the bundled example in a temp folder
#   make test   install with dev extras, then run the tests
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test install install-dev system-deps lint lint-imports typecheck completions docs docs-check bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -e '.[dev,dask,ssh,tune]'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev system-deps

system-deps:
	bash scripts/system-deps.sh

demo: install
	bash scripts/demo.sh

test: install-dev lint-imports typecheck
	$(PY) -m pytest

lint-imports: install-dev  # the layers and forbidden imports in pyproject.toml
	$(VENV)/bin/lint-imports

typecheck: install-dev
	$(VENV)/bin/mypy mlx

lint: install-dev
	$(VENV)/bin/ruff check mlx tests bench

completions: install
	$(PY) -m mlx.cli.completions completions

docs: install
	$(PY) -m mlx.config.reference > docs/config.md

docs-check: install
	$(PY) scripts/check_docs.py

bench: install-dev
	$(PY) -m bench

.PHONY: bench-serve
bench-serve: install-dev  # serving benchmark (needs wrk: apt-get install -y wrk); ARGS=--quick
	$(PY) -m bench.serve $(or $(ARGS),--write-doc)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
