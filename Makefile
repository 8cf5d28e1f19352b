# The two commands: `make run` and `make test`. Each makes .venv on first use, from the
# hash-pinned lock files (requirements.lock, requirements-dev.lock): every file pip fetches must
# match a hash in the lock, and nothing else is installed. Once .venv exists, `make run` never
# reaches the network: it does not reinstall when the lock changes (`make install` does).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
# Only what the lock names, each file checked against its hashes; then the project itself with
# no dependencies and no build environment (setuptools comes from the lock too).
PIP_LOCKED := $(BIN)/python -m pip install --quiet --require-hashes
PIP_SELF := $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
UV_COMPILE := $(BIN)/uv pip compile --quiet --upgrade --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock"

.PHONY: run console install voice test test-fast lint audit lock bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Order-only on the lock: once installed, `make run` uses .venv as it is (see `install`).
$(VENV)/.run-installed: | $(BIN)/python $(LOCK)
	$(PIP_LOCKED) -r $(LOCK)
	$(PIP_SELF)
	touch $@

$(VENV)/.dev-installed: $(DEV_LOCK) pyproject.toml | $(BIN)/python
	$(PIP_LOCKED) -r $(DEV_LOCK)
	$(PIP_SELF)
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	@[ $(LOCK) -ot $(VENV)/.run-installed ] || echo "Note: $(LOCK) changed since .venv was" \
		"built; \`make install\` brings .venv up to date (it needs the package index)." >&2
	$(BIN)/coreflect

console: $(VENV)/.run-installed
	$(BIN)/coreflect console

# Build .venv, or bring it up to date with the lock: the one step of a deploy that downloads.
install: | $(BIN)/python
	rm -f $(VENV)/.run-installed
	$(MAKE) $(VENV)/.run-installed

# Optional local transcription of voice notes (docs/operating.md): this project's `voice` extra
# (faster-whisper, PyAV, numpy) from the package index, newest allowed: not hash-pinned.
voice: $(VENV)/.run-installed
	$(BIN)/python -m pip install --quiet --no-build-isolation -e '.[voice]'

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -q -n auto

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check bot flows tests bench tools
	$(BIN)/ruff format --check bot flows tests bench tools
	$(BIN)/mypy
	$(BIN)/python tools/audit.py $(LOCK) $(DEV_LOCK)

audit: $(VENV)/.dev-installed
	$(BIN)/python tools/audit.py $(LOCK) $(DEV_LOCK)

# Refresh both lock files to the newest versions pyproject.toml allows (dev pinned to the same
# versions as runtime), with hashes of every file of each. Review the diff, then `make test`.
lock: $(VENV)/.dev-installed
	printf 'setuptools>=77\n' | $(UV_COMPILE) pyproject.toml - -o $(LOCK)
	$(UV_COMPILE) --extra dev -c $(LOCK) pyproject.toml -o $(DEV_LOCK)

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
