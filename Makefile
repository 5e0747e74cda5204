# yiwang — the commands a developer and an operator need. See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
YIWANG := $(VENV)/bin/yiwang
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS := never

.PHONY: install assets demo serve test bench lint db clean

$(VENV)/.installed: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	uv sync --frozen --quiet
	@touch $@

install: $(VENV)/.installed ## Python packages, from the lock file

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	@touch $@

assets: node_modules/.installed ## front-end assets from npm into static/vendor
	@mkdir -p src/yiwang/static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js src/yiwang/static/vendor/
	cp node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js node_modules/bpmn-js/dist/assets/diagram-js.css node_modules/bpmn-js/dist/assets/bpmn-js.css src/yiwang/static/vendor/

db: install ## create or upgrade the database
	$(YIWANG) db upgrade

demo: install assets db ## load the demo city and serve it on http://127.0.0.1:8000
	$(YIWANG) demo load --if-empty
	$(YIWANG) serve --host 127.0.0.1 --port 8000

serve: install assets db
	$(YIWANG) serve

test: install assets ## install test needs and run the whole suite
	@scripts/install-system-deps
	scripts/test

bench: install ## benchmarks, each beside its baseline from the same run
	$(PY) -m bench

lint: install ## style and the dependency rules between domains
	$(VENV)/bin/ruff check src tests bench
	$(PY) scripts/import-contracts --check
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) node_modules src/yiwang/static/vendor
