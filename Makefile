# The two commands of the README: `make demo` runs an example agent end to end, `make test` runs
# every test. Both set up what they need on a fresh machine (a virtual environment, a Docker
# engine, the sandbox base image), and skip what is already there.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := specs/file_pipeline

.PHONY: demo test setup engine image clean

$(BIN)/specc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/specc

setup: $(BIN)/specc

engine:
	@scripts/ensure-docker

image: setup engine
	@command -v debootstrap >/dev/null || (apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null)
	@$(BIN)/specc image build

demo: image
	@# the sandbox runs tools as uid 65534; the output folder must be writable by it
	chmod o+w $(DEMO)/outbox
	$(BIN)/specc check specs/
	cd $(DEMO) && ../../$(BIN)/specc run file_pipeline.agent --input @input.json

test: image
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .specc build dist *.egg-info
