# rl2-course: `make lab` to learn, `make test` to check everything.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: lab install browser test unit-test notebook-test notebooks assignment lock bench clean help

help:
	@echo "make lab        install into .venv and open JupyterLab on notebooks/"
	@echo "make test       install, then run unit tests and every notebook (nbval)"
	@echo "make install    install only"
	@echo "make notebooks  regenerate notebooks/ (student copies) from solutions/"
	@echo "make assignment zip the learner's notebooks into dist/ (grade with: python -m rl2_course grade NB)"
	@echo "make bench      run the benchmarks and print their tables"
	@echo "make lock       re-pin constraints.txt from a fresh install"

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the pins or the package metadata change.
$(STAMP): $(PY) constraints.txt pyproject.toml
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,instructor]'
	$(PY) -m ipykernel install --user --name rl2-course --display-name "Python (rl2-course)" >/dev/null
	touch $(STAMP)

install: $(STAMP)

# JupyterLab refuses to run as root unless told; containers and CI machines often are root.
LAB_ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(LAB_ROOT_FLAG) $(LAB_ARGS)

# The browser test drives Debian's chromium; as root we install it when it is missing
# (elsewhere the test skips with a message, except under CI=true, where it must run).
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq chromium >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }; } || \
	  echo "note: chromium is not installed; the browser test will be skipped (unless CI=true)"; }

# Unit tests, then every chapter in both folders on a fresh kernel (nbval, lax mode:
# only cells marked `# NBVAL_CHECK_OUTPUT` have their output compared).
test: $(STAMP) browser
	$(PY) -m pytest tests $(PYTEST_ARGS)
	$(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider solutions notebooks $(PYTEST_ARGS)

unit-test: $(STAMP)
	$(PY) -m pytest tests $(PYTEST_ARGS)

notebooks: $(STAMP)
	$(PY) -m rl2_course notebooks

assignment: $(STAMP)
	$(PY) -m rl2_course assignment --out dist/rl2-course-assignment.zip

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v '^torch==' | { echo "torch==2.13.0"; cat; } | sort -f > constraints.tmp
	@echo "wrote constraints.tmp; review it and move it over constraints.txt (keep the header)"

clean:
	rm -rf $(VENV) .pytest_cache
