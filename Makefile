# Two entry points: `make run` (install + train + evaluate the default demo), `make test` (install + tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SEQLAB_DATA_DIR ?= ../shared/data
export SEQLAB_DATA_DIR

.PHONY: install run test lint clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/seqlab demo

test: install
	$(PY) -m ruff check seqlab tests bench
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
