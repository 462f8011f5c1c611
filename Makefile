# Two commands on a fresh machine: `make demo` and `make test`. Everything installs into .venv
# from the package registries, pinned by constraints.txt (the versions CI passed with).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_PERSONS ?= 20000

.PHONY: install demo test febrl-data clean constraints

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[test]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/spine synth --persons $(DEMO_PERSONS) --seed 1 --out examples/migration/data
	$(BIN)/spine run examples/migration/job.yaml

febrl-data: install
	$(BIN)/spine febrl --out examples/febrl/data

test: install
	$(BIN)/python -m pytest -q

# Refresh the pins after a deliberate upgrade (then run `make test` and commit both files).
constraints: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^migration-spine' > constraints.txt

clean:
	rm -rf $(VENV) examples/*/data examples/*/out
