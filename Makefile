# Two commands matter: `make run` and `make test`. Everything else is what they stand on.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
FLASK := $(VENV)/bin/flask --app wsgi

.PHONY: run test test-sqlite test-postgres fuzz setup translations photos bench clean extract-messages
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
	$(FLASK) seed-demo --if-empty
	$(FLASK) run --host 127.0.0.1 --port 5000

photos: $(VENV)/.synced
	$(VENV)/bin/python tests/fetch_photos.py

# The whole suite on SQLite, then again on PostgreSQL (required in CI; a loud warning when unreachable elsewhere).
test: setup photos
	$(VENV)/bin/python tests/run_suites.py $(PYTEST_ARGS)

test-sqlite: setup photos
	$(VENV)/bin/python tests/run_suites.py --only sqlite $(PYTEST_ARGS)

test-postgres: setup photos
	$(VENV)/bin/python tests/run_suites.py --only postgres $(PYTEST_ARGS)

# The fuzzer at length: every route x field x hostile value, then many random combinations, on both databases.
fuzz: setup
	VOLUNTEER_FUZZ_EXHAUSTIVE=1 VOLUNTEER_FUZZ_EXAMPLES=200 $(VENV)/bin/python tests/run_suites.py tests/test_fuzz.py $(PYTEST_ARGS)

bench: setup photos
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .cache
