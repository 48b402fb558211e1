# Two entry points: `make demo` runs shadowmesh, `make test` runs every test.
# Both create .venv on first use (scripts/bootstrap).
PY := .venv/bin/python
STAMP := .venv/.bootstrapped
# The request path is compiled with mypyc (setup.py lists the modules); rebuilt whenever a
# module of these packages changes, so a test never runs stale native code.
NATIVE := .venv/.native-built
NATIVE_SOURCES := setup.py src/shadowmesh/native.py $(wildcard src/shadowmesh/proxy/*.py src/shadowmesh/http1/*.py src/shadowmesh/clock.py src/shadowmesh/memo.py src/shadowmesh/routing/*.py \
	src/shadowmesh/mirror/*.py src/shadowmesh/telemetry/*.py src/shadowmesh/compare/wire.py \
	src/shadowmesh/compare/pairing.py src/shadowmesh/compare/engine.py src/shadowmesh/compare/aggregate.py \
	src/shadowmesh/compare/stats.py src/shadowmesh/compare/endpoints.py)

.PHONY: demo test lint bench validate build pure clean

$(STAMP): pyproject.toml scripts/bootstrap
	./scripts/bootstrap
	touch $(STAMP)

$(NATIVE): $(STAMP) $(NATIVE_SOURCES)
	SHADOWMESH_COMPILE=1 $(PY) setup.py -q build_ext --inplace >.venv/native-build.log 2>&1 \
		|| { tail -40 .venv/native-build.log; exit 1; }
	touch $(NATIVE)

build: $(NATIVE)

demo: $(NATIVE)
	$(PY) -m shadowmesh demo $(ARGS)

validate: $(STAMP)
	for d in examples/*/; do $(PY) -m shadowmesh validate -f $$d || exit 1; done

test: $(NATIVE)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: $(NATIVE)
	$(PY) -m bench $(ARGS)

# Back to the interpreted request path (same behaviour, slower): remove the native modules.
pure:
	find src -name '*.so' -delete
	rm -f $(NATIVE)

clean: pure
	rm -rf .venv build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
