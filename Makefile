# Everything a reader, a learner or CI needs, on a fresh machine with Python 3.11 and make.
#   make book   build the HTML (Jupyter Book 1, warnings are errors) and print the page to open
#   make test   lint, then every test: library, sync checks, grading, browser, every notebook (nbval)
#   make lab    open the notebooks in JupyterLab
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export TORCHINDUCTOR_CACHE_DIR := $(CURDIR)/_build/.inductor-cache
# The tests re-execute every notebook on another numeric code path than the one the stored outputs
# came from: ATen's generic (unvectorized) kernels and MKL's conservative path change the last bits
# of floating-point results, as another CPU would. A stored output that prints round-off digits,
# or a claim that holds on one CPU only, fails here rather than on a reader's machine.
NUMERIC_ENV ?= ATEN_CPU_CAPABILITY=default

.PHONY: book test lab library exercises execute lock browser sandbox test-browser clean

# requirements.txt pins torch's CPU build on Linux (2.13.0+cpu), which lives on PyTorch's CPU index,
# not on PyPI: where pip is not already set up to find it, the second command adds that index.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt \
	  || $(BIN)/python -m pip install --quiet --extra-index-url $(TORCH_CPU_INDEX) -r requirements.txt
	@touch $@

# Recompile the lock (requirements.txt) from the direct dependencies (requirements.in) with pip-tools;
# pip-compile keeps the versions already locked unless requirements.in asks for others.
lock:
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
	  --output-file requirements.txt requirements.in
	printf '%s\n' '# Not in the compiled lock: torch elsewhere than Linux, and the book'"'"'s library (editable).' \
	  'torch==2.13.0 ; sys_platform != "linux"' '-e .' >> requirements.txt

book: $(STAMP)
	rm -rf _build/html _build/.doctrees _build/jupyter_execute
	$(BIN)/jupyter-book build . -W --keep-going
	@echo
	@echo "Open the book: file://$(CURDIR)/_build/html/index.html"

test: $(STAMP) browser sandbox
	$(BIN)/ruff check rnnbook tests tools book/_ext exercises/src conftest.py book/*.ipynb exercises/*.ipynb solutions/*.ipynb
	$(BIN)/ruff format --check rnnbook tests tools book/_ext exercises/src conftest.py
	env $(NUMERIC_ENV) $(BIN)/python -m pytest -n $(JOBS) --dist loadfile

lab: $(STAMP)
	$(BIN)/jupyter lab book/

# Regenerate the exercise and solution notebooks from their masters (exercises/src), executed.
exercises: $(STAMP)
	$(BIN)/python tools/assign_exercises.py

# Regenerate the library modules from the chapters' #@save cells.
library: $(STAMP)
	$(BIN)/python tools/save_library.py

# Re-execute one chapter in a fresh kernel (after changing it or the library), then check it the
# way `make test` does: nbval on the other numeric code path, and the static notebook checks.
#   make execute NB=book/05_bidirectional.ipynb
# (Exercise and solution notebooks are generated: `make exercises`, or one set:
# `.venv/bin/python tools/assign_exercises.py 05`.)
execute: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make execute NB=book/NN_name.ipynb"; exit 2; }
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace $(NB)
	$(BIN)/python tools/strip_execution_metadata.py $(NB)
	env $(NUMERIC_ENV) $(BIN)/python -m pytest -p no:xdist -q $(NB) tests/test_notebooks.py

# Debian's Chromium for the browser tests (no browser download: Playwright drives this one).
browser:
	@test -n "$$CHROMIUM" || command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests: apt-get install chromium"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	  || { echo "Could not install chromium. Install it with: sudo apt-get install chromium"; exit 1; }; }

# Debian's bubblewrap, which isolates each submission the grader runs (rnnbook/grading/isolation.py).
sandbox:
	@command -v bwrap >/dev/null || { \
	  echo "Installing Debian's bubblewrap for the grader's sandbox: apt-get install bubblewrap"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null \
	  || { echo "Could not install bubblewrap. Install it with: sudo apt-get install bubblewrap"; exit 1; }; }

# Only the browser tests (they build the book twice and visit every page; about a minute).
test-browser: $(STAMP) browser
	$(BIN)/python -m pytest tests/test_browser.py

clean:
	rm -rf _build
