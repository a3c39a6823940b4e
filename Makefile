# The two set-up commands of the README:
#   make demo   - create .venv, install, downscale the shipped sample scene
#   make test   - create .venv, install, run the whole test suite
# torch is pinned to the CPU build that installs from this machine's disk; see README for CUDA.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test install clean

$(BIN)/groklst: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	@touch $@

install: $(BIN)/groklst

demo: install
	$(BIN)/groklst downscale sample_scenes/heihe_demo_lst.tif -o out/heihe_demo_lst_10m.tif --overwrite

# Two pytest-xdist workers, one per CI core, each taking whole test files (module fixtures built
# once); --durations=25 lists the slowest tests, to see where CI's time goes.
# make test PYTEST_ARGS="-n 0" runs it in one process.
test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=25 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) out .pytest_cache
