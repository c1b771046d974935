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
	$(PY) -m seqlab.engine.build_loops  # compile the engine's C++ time loops once (cached)

# The default demo: Korean movie-review sentiment (NSMC) with the default config, then the held-out test
# set, then a few predictions. About 14 minutes on a 2-core CPU (10 of them training).
RUN_DIR ?= runs/nsmc
run: install
	$(VENV)/bin/seqlab train classify --config configs/nsmc.toml --out $(RUN_DIR)
	$(VENV)/bin/seqlab evaluate $(RUN_DIR) --split test
	$(VENV)/bin/seqlab predict $(RUN_DIR) "이 영화 진짜 최고다" "시간 아깝다 다시는 안 본다" \
		"배우들 연기는 좋았는데 스토리가 너무 뻔했다" "기대 안 했는데 마지막에 눈물 났어요"

test: install
	$(PY) -m ruff check seqlab tests bench
	$(PY) -m pytest -q -n 2

clean:
	rm -rf $(VENV) build *.egg-info
