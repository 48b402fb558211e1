# Two entry points: `make demo` runs shadowmesh, `make test` runs every test.
# Both create .venv on first use (scripts/bootstrap).
PY := .venv/bin/python
STAMP := .venv/.bootstrapped

.PHONY: demo test lint bench validate clean

$(STAMP): pyproject.toml scripts/bootstrap
	./scripts/bootstrap
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m shadowmesh demo $(ARGS)

validate: $(STAMP)
	for d in examples/*/; do $(PY) -m shadowmesh validate -f $$d || exit 1; done

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) -m bench $(ARGS)

clean:
	rm -rf .venv build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
