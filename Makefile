# Two commands on a fresh machine: `make demo` and `make test`. Everything installs into .venv
# from the package registries, pinned by constraints.txt (the versions CI passed with).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_PERSONS ?= 20000

.PHONY: install demo test browser database java febrl-data clean constraints
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[test]'
	touch $@

install: $(BIN)/.installed

# The Spark engine's tests need pyspark (the spark extra, pinned like the rest); the demo does not.
$(BIN)/.spark-installed: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[test,spark]'
	touch $@

demo: install
	$(BIN)/spine synth --persons $(DEMO_PERSONS) --seed 1 --out examples/migration/data
	$(BIN)/spine run examples/migration/job.yaml

febrl-data: install
	$(BIN)/spine febrl --out examples/febrl/data

# The report is tested in a real headless Chromium: Debian's package, installed once if missing.
# Without apt (or root/sudo) it says so and goes on; the browser tests then fail with what to do.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	{ command -v apt-get >/dev/null && { [ -z "$(SUDO)" ] || command -v sudo >/dev/null; } && \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; } || \
	echo "make browser: no chromium and no apt-get to install it: install Chromium, or set SPINE_TEST_CHROMIUM"

# Database sources are tested against a real PostgreSQL server the tests start in a temp folder:
# Debian's package, installed once if missing (as the browser is).
database:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	{ command -v apt-get >/dev/null && { [ -z "$(SUDO)" ] || command -v sudo >/dev/null; } && \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; } || \
	echo "make database: no PostgreSQL server and no apt-get to install it: install PostgreSQL"

# The Spark engine's tests run Spark in local mode: Java 17 from Debian's package, installed once if
# missing (as the browser is).
java:
	@command -v java >/dev/null || \
	{ command -v apt-get >/dev/null && { [ -z "$(SUDO)" ] || command -v sudo >/dev/null; } && \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq openjdk-17-jre-headless >/dev/null; } || \
	echo "make java: no Java and no apt-get to install it: install a Java 17 runtime for the Spark tests"

# Test files run on every core (whole files per worker, so each end-to-end module runs its job once).
test: install $(BIN)/.spark-installed browser database java
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# Refresh the pins after a deliberate upgrade (then run `make test` and commit both files).
constraints: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^migration-spine' > constraints.txt

clean:
	rm -rf $(VENV) examples/*/data examples/*/out
