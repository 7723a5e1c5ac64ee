# Neighbour Time Bank — `make run` serves the portal, `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask
PORT ?= 5000
export FLASK_APP := wsgi.py

.PHONY: run test install translations lint serve-prod extract-messages reset-demo bench-tools

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed translations node_modules/.installed

# axe-core for the browser accessibility checks (npm; skipped where npm is missing).
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: browser accessibility checks will be skipped"; fi

translations: $(VENV)/.installed
	$(VENV)/bin/pybabel compile -d translations

extract-messages: $(VENV)/.installed
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -o translations/messages.pot .
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

# Serving needs no npm: node_modules only holds axe-core for the browser tests.
run: $(VENV)/.installed translations
	$(FLASK) db upgrade
	$(FLASK) demo load --if-empty
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

# Start again from the demo data (the SQLite file in instance/ only; DATABASE_URL unset).
reset-demo: $(VENV)/.installed
	@test -z "$$DATABASE_URL" || { echo "reset-demo resets the SQLite file only: unset DATABASE_URL"; exit 1; }
	rm -f instance/portal.sqlite3 instance/portal.sqlite3-wal instance/portal.sqlite3-shm
	$(FLASK) db upgrade
	$(FLASK) demo load

serve-prod: $(VENV)/.installed translations
	$(FLASK) db upgrade
	PORTAL_ENV=production $(VENV)/bin/gunicorn --workers 4 --bind 127.0.0.1:$(PORT) wsgi:app

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: install lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The load generator of `benchmarks/pages.py --ratio` (Debian's wrk; run as root or with sudo).
bench-tools:
	@command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
