PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint format bench clean lock image

# setup.py and the C source: an edit rebuilds the compiled matcher kernel (bot/query/_gather.c)
$(STAMP): pyproject.toml setup.py bot/query/_gather.c
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/paperbot demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# requirements.txt: every dependency of `paperbot[all]` pinned, then paperbot itself; what
# Procfile platforms (Heroku's Python buildpack) and the Dockerfile install.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra all --python-version 3.11 --no-header \
		--quiet -o requirements.txt
	printf '# paperbot itself, with every optional part\n.[all]\n' >> requirements.txt

image:
	docker build -t paperbot:latest .

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) data .pytest_cache build bot/query/_gather.*.so
