# Two commands do everything on a fresh clone with Python 3.11 and pip:
#   make demo   set up .venv, run the quick context-window sweep, write the figure
#   make test   set up .venv, run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint setup clean

setup: $(STAMP)

# Installs the pinned dependencies from pyproject.toml (the project itself runs from the checkout).
# Reinstalls only when pyproject.toml changes, so a second `make` reuses .venv.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	print('\n'.join(p['dependencies'] + p['optional-dependencies']['dev']))" > $(VENV)/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(VENV)/requirements.txt
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) run.py -m experiment=quick hydra/launcher=joblib
	$(PY) -m analysis.report outputs/quick

# Two workers, one per core of the machines CI and development run on.
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --durations=15

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) outputs
