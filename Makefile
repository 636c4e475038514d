# advnotes: `make book` renders the executed book, `make test` runs every check.
# Both build .venv from requirements.txt when it is missing or older than the pins.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHAPTERS := $(sort $(wildcard book/*.ipynb))
# One BLAS thread per process: the two pytest workers share the two cores.
NBVAL_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 ADVNOTES_PROFILE=quick

.PHONY: all venv book test unit nbval build-strict execute lint bench clean

all: book

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.2"
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

venv: $(STAMP)

## make book: execute every chapter (with a cache) and render HTML into _build/html
book: $(STAMP)
	ADVNOTES_PROFILE=$${ADVNOTES_PROFILE:-quick} $(BIN)/jupyter-book build . -W -n --keep-going
	@echo "Book rendered: _build/html/index.html"

## make test: unit tests, nbval over every chapter, lint, and a strict book build
test: unit nbval lint build-strict

unit: $(STAMP)
	$(NBVAL_ENV) $(BIN)/python -m pytest tests -q -p no:cacheprovider -n 2

nbval: $(STAMP)
	$(NBVAL_ENV) $(BIN)/python -m pytest --nbval $(CHAPTERS) -q -p no:cacheprovider \
		-n 2 --dist loadfile --nbval-sanitize-with tests/nbval_sanitize.cfg

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts book
	$(BIN)/ruff format --check src tests benchmarks scripts book

## The strict build renders the committed outputs (nbval has just re-executed and
## compared them) so that every chapter is not executed a second time.
build-strict: $(STAMP)
	$(BIN)/python scripts/build_book.py --strict

## make execute: re-run chapters in place (quick profile), storing outputs without volatile metadata
execute: $(STAMP)
	$(BIN)/python scripts/execute.py $(CHAPTERS)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf _build .pytest_cache
