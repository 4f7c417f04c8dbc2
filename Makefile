# Two commands: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The hot modules, compiled in place with mypyc (see src/elicense/native.py).
NATIVE_SRC   := $(shell $(PYTHON) src/elicense/native.py)
NATIVE_STAMP := src/.native-stamp

.PHONY: run test lint typecheck unit docs bench clean native

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,service,postgres,gm]'
	touch $(STAMP)

## native: compile the hot modules to C (mypyc); rebuilt whenever one of them changes
native: $(NATIVE_STAMP)

$(NATIVE_STAMP): $(STAMP) $(NATIVE_SRC) src/elicense/native.py
	rm -f src/*__mypyc*.so
	cd src && ../$(BIN)/mypyc $(NATIVE_SRC:src/%=%) > ../.native-build.log 2>&1 \
	  || (cat ../.native-build.log; exit 1)
	# The per-module extensions are shims into one shared library and keep their old
	# times when only the code changed: date them now, for the staleness check.
	find src -name '*.so' -exec touch {} +
	touch $(NATIVE_STAMP)

## run: the service with demo data on embedded SQLite (http://127.0.0.1:8000/desk)
run: $(NATIVE_STAMP)
	$(BIN)/elicense serve --demo --home var/demo

## test: lint, format check, strict types, all tests
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(NATIVE_STAMP)
	ELICENSE_NATIVE_REQUIRED=1 $(BIN)/pytest -q

## docs: regenerate the generated docs (errors, catalog)
docs: $(STAMP)
	$(BIN)/python -m elicense.docs

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
	rm -rf src/build src/.mypy_cache $(NATIVE_STAMP) .native-build.log
	find src -name '*.so' -delete
