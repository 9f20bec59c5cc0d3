# The README's two promises: `make demo` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# seconds per notebook cell: notebook 02's Run cell sweeps 5 DPIs x 2 caps (~5 min on 2 cores)
NOTEBOOK_TIMEOUT ?= 600

# Modal targets (need `modal token new` once). MODEL: 1b | 32k | 16k | 2-1b | 3-1b | ... | a Hugging Face id.
MODEL ?= 1b
GPU   ?= A100-40GB
# The endpoint of health / test-endpoint / benchmark: MODAL_URL=..., else $LIGHTON_LAB_URL.
MODAL_URL ?= $(LIGHTON_LAB_URL)
PDF_FILE ?= data/sample/report.pdf
PAGE ?= 1
BENCH_PDF ?= data/sample/report.pdf
BENCH_PAGES ?= 1-3
BENCH_PARALLEL ?= 64

.PHONY: install test unit lint format notebooks demo bench lab screenshot sample clean need-url \
        serve serve-32k serve-16k serve-fast deploy deploy-32k deploy-16k health models logs containers \
        test-endpoint benchmark

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[local,dev]"
	touch $(STAMP)

install: $(STAMP)

# Everything: lint, every test (slow ones included) and the doctests, then the notebooks through nbmake.
test: lint
	$(BIN)/python -m pytest tests lighton_lab --doctest-modules -q
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
	  $(BIN)/python -m pytest --nbmake --nbmake-timeout=$(NOTEBOOK_TIMEOUT) notebooks -q; fi

# The quick loop while editing: no server, subprocess, browser or notebook (tests marked slow are left out).
unit: $(STAMP)
	$(BIN)/python -m pytest tests lighton_lab --doctest-modules -q -m "not slow"

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

format: $(STAMP)
	$(BIN)/python -m ruff check --fix .
	$(BIN)/python -m ruff format .

demo: $(STAMP)
	$(BIN)/lighton-lab demo

bench: $(STAMP)
	$(BIN)/python scripts/bench_local.py

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

# JupyterLab in headless Chromium after running notebooks 02 and 06: docs/screenshot-02_sweep.png and
# docs/screenshot-06_grounding.png
screenshot: $(STAMP)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "install Debian's chromium first (apt-get install chromium)"; exit 1; }
	$(BIN)/python -m pip install -q -e ".[screenshot]"
	$(BIN)/python scripts/screenshot.py

sample: $(STAMP)
	$(BIN)/python -m lighton_lab.corpus.synth data/sample

# ---- LightOnOCR on Modal (see README, "Serving LightOnOCR on Modal") ----
serve: $(STAMP)
	$(BIN)/lighton-lab serve --model $(MODEL) --gpu $(GPU)
serve-32k: ; $(MAKE) serve MODEL=32k
serve-16k: ; $(MAKE) serve MODEL=16k
serve-fast: $(STAMP)
	$(BIN)/lighton-lab serve --model $(MODEL) --gpu $(GPU) --fast-boot
deploy: $(STAMP)
	$(BIN)/lighton-lab deploy --model $(MODEL) --gpu $(GPU)
deploy-32k: ; $(MAKE) deploy MODEL=32k
deploy-16k: ; $(MAKE) deploy MODEL=16k
need-url:
	@test -n "$(MODAL_URL)" || { echo "No endpoint: run 'make $(MAKECMDGOALS) MODAL_URL=https://you--lightonocr-1b-serve.modal.run'"; \
	  echo "(or export LIGHTON_LAB_URL=...). 'make serve' starts one and prints its URL."; exit 2; }

health: need-url $(STAMP)
	$(BIN)/lighton-lab health --url $(MODAL_URL)
models: $(STAMP)
	$(BIN)/lighton-lab models
logs: $(STAMP)
	$(BIN)/lighton-lab logs --model $(MODEL)
containers: $(STAMP)
	$(BIN)/modal container list
test-endpoint: need-url $(STAMP)
	$(BIN)/lighton-lab ocr --url $(MODAL_URL) $(PDF_FILE) --page $(PAGE)
benchmark: need-url $(STAMP)
	$(BIN)/lighton-lab bench --url $(MODAL_URL) --pdf $(BENCH_PDF) --pages $(BENCH_PAGES) --parallel $(BENCH_PARALLEL) --metrics

clean:
	rm -rf runs .pytest_cache
