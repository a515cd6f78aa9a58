# Two commands matter: `make run` and `make test`. Everything else is what they stand on.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
FLASK := $(VENV)/bin/flask --app wsgi
#: `make run PORT=5101` when 5000 is taken
PORT ?= 5000

.PHONY: run test test-sqlite test-postgres fuzz setup translations photos axe bench clean extract-messages
.DEFAULT_GOAL := run

# uv installs the locked dependencies (including the prebuilt dlib) in seconds; bootstrap it from PyPI if missing.
.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra test
	@touch $@

setup: $(VENV)/.synced translations

translations: $(VENV)/.synced
	@$(VENV)/bin/pybabel compile -d volunteer/translations 2>/dev/null

extract-messages: $(VENV)/.synced
	$(VENV)/bin/pybabel extract --no-wrap --no-location --sort-output -F babel.cfg -k _l -k lazy_gettext -o volunteer/translations/messages.pot .
	$(VENV)/bin/pybabel update -i volunteer/translations/messages.pot -d volunteer/translations --no-fuzzy-matching --no-wrap --ignore-obsolete

run: setup
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty --port $(PORT)
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

photos: $(VENV)/.synced
	$(VENV)/bin/python tests/fetch_photos.py

# axe-core for the accessibility tests, exactly as locked in tests/package-lock.json; nothing to do (and no network
# needed) while tests/node_modules is newer than the lock file.
tests/node_modules/.package-lock.json: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund
	@touch $@

axe: tests/node_modules/.package-lock.json

# The whole suite on SQLite, then again on PostgreSQL (required in CI; a loud warning when unreachable elsewhere).
test: setup photos axe
	$(VENV)/bin/python tests/run_suites.py $(PYTEST_ARGS)

test-sqlite: setup photos axe
	$(VENV)/bin/python tests/run_suites.py --only sqlite $(PYTEST_ARGS)

test-postgres: setup photos axe
	$(VENV)/bin/python tests/run_suites.py --only postgres $(PYTEST_ARGS)

# The fuzzer at length: every route x field x hostile value, then many random combinations, on both databases.
fuzz: setup
	VOLUNTEER_FUZZ_EXHAUSTIVE=1 VOLUNTEER_FUZZ_EXAMPLES=200 $(VENV)/bin/python tests/run_suites.py tests/test_fuzz.py $(PYTEST_ARGS)

bench: setup photos
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .cache tests/node_modules
