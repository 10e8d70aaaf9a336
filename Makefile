# Two commands do all of the set-up on a fresh machine: `make run` and `make test`.
# Both install into .venv with uv (15 s here, against 4.5 min for pip), installing uv first if missing.

# uv verifies TLS against the system trust store (the one pip and curl use here), not its bundled roots.
export UV_NATIVE_TLS ?= 1

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STATE  ?= .modelsync
# uv's own venv, when uv is not on the PATH: one per checkout, whatever STATE a command is given (a `make ui
# STATE=<dir>` installed uv again into <dir>, from the package index).
TOOLS  ?= .modelsync/tools
UV     := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(TOOLS)/bin/uv
endif

.PHONY: install run test fuzz ui bench stop explain job status approve

# The admin secret destructive jobs check (modelsync_pipeline/approval.py). From the environment when set;
# for a local embedded set-up, generated once under the state folder (mode 600). Never in run config.
ADMIN_TOKEN = export MODELSYNC_ADMIN_TOKEN="$${MODELSYNC_ADMIN_TOKEN:-$$(mkdir -p $(STATE) && \
	  { cat $(STATE)/admin_token 2>/dev/null || (umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(32))' \
	  | tee $(STATE)/admin_token); })}"

install: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet 'uv>=0.5'

$(VENV)/.installed: pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -e '.[test]'
	touch $@

## Sync every provider into PostgreSQL and Redis (replayed payloads; MODELSYNC_SOURCE=live for the APIs).
run: install
	$(PY) -m modelsync_pipeline.cli run --state-dir $(STATE)

## The test suite, against real PostgreSQL and Redis (embedded unless TEST_DATABASE_URL/TEST_REDIS_URL), on
## TEST_WORKERS processes (pytest-xdist); each module runs whole on one of them, so its servers start once.
TEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

## The property tests with new random examples (the suite draws the same ones every run); run it a few times.
fuzz: install
	HYPOTHESIS_PROFILE=explore $(PY) -m pytest -q -p no:cacheprovider $(shell grep -l "from hypothesis" tests/test_*.py)

## The Dagster UI on the same database, cache and run history as `make run` (http://127.0.0.1:3000).
# The servers are held while the UI runs (`make stop` refuses meanwhile) and left running after it.
ui: install
	@$(ADMIN_TOKEN) && export DAGSTER_HOME="$(abspath $(STATE))/dagster_home" && mkdir -p "$$DAGSTER_HOME" && \
	  cp modelsync_pipeline/dagster.yaml "$$DAGSTER_HOME/.dagster.yaml.$$$$" && \
	  mv -f "$$DAGSTER_HOME/.dagster.yaml.$$$$" "$$DAGSTER_HOME/dagster.yaml" && \
	  exec $(PY) -m modelsync_pipeline.local.services run --keep-running --state-dir $(STATE) -- \
	    $(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p $${PORT:-3000}

## Stop the embedded servers that `make ui` left running.
stop: install
	$(PY) -m modelsync_pipeline.local.services stop --state-dir $(STATE) $(if $(FORCE),--force)

## Benchmarks (bench/): each prints its figure beside a baseline measured in the same run.
bench: install
	$(PY) bench/bench_models_table.py
	$(PY) bench/bench_refresh.py
	$(PY) bench/bench_cache.py
	$(PY) bench/bench_memory.py
	$(PY) bench/bench_e2e.py
	$(PY) bench/bench_naming.py

## Where did a name come from: make explain P=openrouter M=deepseek/deepseek-prover-v2:free
## (explain and status stop the embedded servers they started; ones `make ui` left running stay up)
explain: install
	@$(PY) -m modelsync_pipeline.local.services run --state-dir $(STATE) -- \
	  $(PY) -m modelsync_pipeline.cli explain "$(P)" "$(M)"

## The status report (GET /admin/model-sync/status): make status
status: install
	@$(PY) -m modelsync_pipeline.local.services run --state-dir $(STATE) -- $(PY) -m modelsync_pipeline.cli status

## Run any job from the CLI on the same database, cache and run history as the UI:
##   make job J=flush_models C=config/flush_models.yaml
# exec: the run's process is this shell's, so its tags name it; a killed `make job` run is then marked failed
# (defs/jobs.py) instead of holding a slot of the run queue as STARTED for ever. Descriptor 9, held shared on
# the servers before they start (`env --hold-fd`), stays open through the exec: `make stop` refuses until the run ends.
job: install
	@test -n "$(J)" || { echo "usage: make job J=<job> [C=<config file>], e.g. make job J=flush_models C=config/flush_models.yaml" \
	  "(the jobs: README, Jobs; or the UI's Jobs page)" >&2; exit 2; }
	@$(ADMIN_TOKEN) && mkdir -p $(STATE) && exec 9>>$(STATE)/services.users && \
	  exports="$$($(PY) -m modelsync_pipeline.local.services env --state-dir $(STATE) --hold-fd 9)" && eval "$$exports" && \
	  export DAGSTER_HOME="$(abspath $(STATE))/dagster_home" && mkdir -p "$$DAGSTER_HOME" && \
	  cp modelsync_pipeline/dagster.yaml "$$DAGSTER_HOME/.dagster.yaml.$$$$" && \
	  mv -f "$$DAGSTER_HOME/.dagster.yaml.$$$$" "$$DAGSTER_HOME/dagster.yaml" && \
	  exec $(VENV)/bin/dagster job execute -m modelsync_pipeline.definitions -j "$(J)" $(if $(C),-c "$(C)") \
	    --tags "{\"modelsync/pid\": \"$$$$\", \"modelsync/host\": \"$$(uname -n)\"}"

## A one-time code for a destructive job: make approve J=flush_providers A="--provider-count 37"
approve: install
	@$(ADMIN_TOKEN) && $(PY) -m modelsync_pipeline.cli approve "$(J)" $(A)
