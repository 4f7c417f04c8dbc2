# Two commands: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,service,postgres,gm]'
	touch $(STAMP)

## run: the main job as it stands (a tour of the catalog and identifier checks)
run: $(STAMP)
	@$(BIN)/elicense catalog list --search 证
	@$(BIN)/elicense catalog show 营业执照
	@$(BIN)/elicense id check 11010519491231002X
	@$(BIN)/elicense id check 110105491231002
	@$(BIN)/elicense id check 91110000600037341L
	@$(BIN)/elicense id check 1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U
	@echo "--- an invalid one exits 1 with its error code:"
	@$(BIN)/elicense id check 110105194912310021 || true

## test: lint, format check, strict types, all tests
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

## docs: regenerate the generated docs (errors, catalog)
docs: $(STAMP)
	$(BIN)/python -m elicense.docs

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
