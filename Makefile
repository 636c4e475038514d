# advnotes: `make book` renders the executed book, `make test` runs every check.
# Both build .venv from requirements.txt when it is missing or older than the pins.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHAPTERS := $(sort $(wildcard book/*.ipynb))
# Chapter 5's scorecard reads every other chapter's evidence, so it runs after them in `make full`,
# and the reproducibility appendix (both profiles' scorecards) last of all.
SCORECARD := book/ch5_prior_findings.ipynb book/appendix_reproducibility.ipynb
FULL_CHAPTERS := $(filter-out $(SCORECARD),$(CHAPTERS)) $(SCORECARD)
# One BLAS thread per process: the two pytest workers share the two cores, and stored outputs
# (make execute) do not depend on the thread count.
BLAS_ENV  := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
NBVAL_ENV := $(BLAS_ENV) ADVNOTES_PROFILE=quick

.PHONY: all venv book test unit nbval build-strict browser execute full lint bench clean

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

## make test: unit tests, nbval over every chapter, lint, a strict book build, then the built
## pages in a headless browser (skipped, with the reason, where no Chromium is installed)
test: unit nbval lint build-strict browser

## The browser tests need the built book: they run in `browser`, after build-strict.
unit: $(STAMP)
	$(NBVAL_ENV) $(BIN)/python -m pytest tests -q -p no:cacheprovider -n 2 -m "not browser"

## The sanitizer (tests/nbval_sanitize.cfg) comes from addopts in pyproject.toml.
nbval: $(STAMP)
	$(NBVAL_ENV) $(BIN)/python -m pytest --nbval $(CHAPTERS) -q -p no:cacheprovider -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check conftest.py src tests benchmarks scripts book
	$(BIN)/ruff format --check conftest.py src tests benchmarks scripts book

## The strict build renders the committed outputs (nbval has just re-executed and
## compared them) so that every chapter is not executed a second time.
build-strict: $(STAMP)
	$(BIN)/python scripts/build_book.py --strict

## make browser: every page of _toc.yml in headless Chromium, offline (formulas typeset, images
## loaded, no console error); screenshots in _build/screenshots/
browser: build-strict
	$(BIN)/python -m pytest tests/test_browser.py -m browser -q -p no:cacheprovider -rs

## make execute: re-run chapters in place (quick profile), storing outputs without volatile metadata
execute: $(STAMP)
	$(BLAS_ENV) $(BIN)/python scripts/execute.py $(CHAPTERS)

## make full: every chapter in the full profile (bigger models and sweeps; meant for a GPU, runs on a
## CPU in minutes per chapter). The executed pages go to _build/full/, the evidence to
## src/advnotes/evidence/full/ and the wall times to benchmarks/results/full_profile.md (both committed;
## the reproducibility appendix shows the full-profile scorecard and the times).
full: $(STAMP)
	ADVNOTES_PROFILE=full $(BLAS_ENV) $(BIN)/python scripts/execute.py --output-dir _build/full \
		--times benchmarks/results/full_profile.md $(FULL_CHAPTERS)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf _build .pytest_cache
