# make demo: set up .venv (reused when it exists) and run the embedded demo audit.
# make test: set up .venv and run the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ftaudit-installed

.PHONY: demo test venv bench clean

venv: $(STAMP)

# torch first: the pinned CPU build lies on this machine's disk; an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0 || $(BIN)/python -m pip install -q 'torch>=2.1'
	$(BIN)/python -m pip install -q -e '.[test,demo,hf]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ftaudit demo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench.diagnose --quick

clean:
	rm -rf $(VENV) build dist *.egg-info ftaudit-report ftaudit-demo-report
