# One entry point per job; each creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test bench fuzz sklearn-suite clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files re-run an install when the project's metadata changes.
$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(PIP) -e ".[plot,cli]"
	@touch $@

$(VENV)/.dev: pyproject.toml requirements/test-constraints.txt | $(BIN)/python
	$(PIP) -c requirements/test-constraints.txt -e ".[dev]"
	@touch $@

demo: $(VENV)/.demo
	$(BIN)/python examples/old_faithful.py

# pytest exits 5 when it collects no test: that must fail, never pass silently.
test: $(VENV)/.dev
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

# A long hostile-input campaign (thousands of inputs; CI runs a bounded one in make test).
fuzz: $(VENV)/.dev
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/test_fuzz.py -p no:cacheprovider

# scikit-learn's GaussianMixture tests with their float32 and array-API variants (minutes;
# make test runs the default variant).
sklearn-suite: $(VENV)/.dev
	GAUSSMIX_SKLEARN_SUITE=full $(BIN)/python -m pytest tests/test_sklearn_suite.py -p no:cacheprovider

bench: $(VENV)/.dev
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/run.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/bayesian.py
	$(BIN)/python bench/svi.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/init.py
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 GAUSSMIX_NUM_THREADS=1 env -u OPENBLAS_CORETYPE \
		-u OPENBLAS_L2_SIZE $(BIN)/python bench/kmeans.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/smalldata.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/smalldata.py --bayesian
	$(BIN)/python bench/startup.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/firstfit.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
		GAUSSMIX_NUM_THREADS=1 $(BIN)/python bench/compiled_cost.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/torch_cpu.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis demo
