# gmtext: build the book, run the tests, open the notebooks.
#   make book        set up .venv if missing, execute every notebook, build the HTML book
#   make test        set up .venv if missing, run the whole test suite (unit tests, doctests, notebooks)
#   make lab         JupyterLab on the notebooks, with the venv's kernel
#   make student     the student edition: notebooks and HTML book without solutions (after make book)
#   make check-book  open every page of the built book in headless Chromium and check it
#   make bench       run the benchmarks and print their table
#   NB_EXECUTED=DIR  make test keeps each notebook nbval executed in DIR; make book takes them from
#                    there instead of executing them again (CI: every notebook executed once)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gmtext-installed
PROFILE ?= $(or $(GMTEXT_PROFILE),default)
JOBS ?= 2
NB_EXECUTED ?=

.PHONY: setup book test lab check-book bench clean chromium student

setup: $(STAMP)

# torch is pinned and installed first: the exact pin selects the CPU wheel, an open range would
# pull several GB of CUDA packages. On a GPU machine choose the build of that pin with
# TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cu128; `torch==2.13.0` in
# requirements.txt is then already met by 2.13.0+cu128) or the whole TORCH_SPEC; both apply
# when .venv is set up, so remove $(STAMP) to switch an existing one.
TORCH_SPEC ?= $(shell grep -E '^torch==' requirements.txt)
TORCH_INDEX_URL ?=
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check
	touch $(STAMP)

# The notebooks are executed first, two at a time (jupyter-cache's parallel executor, one process
# per core), into an emptied cache; the build then takes their outputs from the cache. A notebook
# that failed there is not cached, so the build executes it again and stops on its error.
# With NB_EXECUTED=DIR the cache is filled instead with the notebooks `make test NB_EXECUTED=DIR`
# executed under nbval (decision 31); any notebook missing there is executed by the build itself.
CACHE := _build/.jupyter_cache
book: setup
	rm -rf $(CACHE) && mkdir -p _build
ifeq ($(NB_EXECUTED),)
	yes | JUPYTERCACHE=$(CACHE) $(VENV)/bin/jcache notebook add notebooks/*.ipynb >/dev/null
	GMTEXT_PROFILE=$(PROFILE) JUPYTERCACHE=$(CACHE) $(VENV)/bin/jcache project execute \
	  --executor local-parallel --timeout 600
else
	$(PY) scripts/cache_executed.py $(CACHE) $(wildcard $(NB_EXECUTED)/*.ipynb)
endif
	GMTEXT_PROFILE=$(PROFILE) $(VENV)/bin/jupyter-book build . --toc book/_toc.yml -W -n --keep-going
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

# The student edition (decision 32): notebooks with every solution stubbed, and the HTML book
# without solutions, built from the outputs `make book` left in its cache. RUN=1 also executes
# each student notebook (quick profile) up to its first exercise, which must stop there.
STUDENT := _build/student
student: setup
	$(PY) scripts/student.py notebooks $(STUDENT)/notebooks
	$(PY) scripts/student.py book $(CACHE) $(STUDENT)/src
	$(VENV)/bin/jupyter-book build $(STUDENT)/src --toc $(CURDIR)/$(STUDENT)/src/book/_toc.yml -W -n --keep-going
	$(PY) scripts/student.py check $(STUDENT)/notebooks --html $(STUDENT)/src/_build/html $(if $(RUN),--run)
	@echo "Student notebooks: $(CURDIR)/$(STUDENT)/notebooks; student book: file://$(CURDIR)/$(STUDENT)/src/_build/html/index.html"

test: setup
	$(if $(NB_EXECUTED),rm -rf $(NB_EXECUTED))
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} GMTEXT_PROFILE=$(PROFILE) $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval-lax --nbval-current-env $(if $(NB_EXECUTED),--nb-executed=$(NB_EXECUTED))

lab: setup
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root,)

chromium:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium (needs root)"; \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# The page checks, then their self-test: each kind of break, made on purpose, must be reported.
check-book: setup chromium
	$(PY) tests/browser/check_book.py _build/html
	$(PY) tests/browser/check_book.py _build/html --self-test

bench: setup
	$(PY) -m benchmarks --profile $(PROFILE)

clean:
	rm -rf _build .pytest_cache
