# Liquidation Cascade Monitor: native local stack (Kafka KRaft, Flink, PostgreSQL).
# `make demo` runs it end to end; `make test` runs the tests. Both install what is missing.

PY := .venv/bin/python
SPEED ?= 60

.PHONY: help setup up down status topics db-init submit-job resume-job cancel-job replay demo \
        test test-unit test-faults bench faults lint clean notify report backtest

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup:  ## install the PostgreSQL server, Python packages, pinned jars, generate .env
	@stack/setup.sh

up:  ## setup, then start Kafka, PostgreSQL, Flink; create topics and schema
	@stack/up.sh

down:  ## stop all services (data in .state/ is kept)
	@stack/down.sh

status:  ## what is running, what was restarted and when
	@stack/supervise.sh status; stack/kafka.sh status; stack/postgres.sh status; \
	  stack/flink.sh status; stack/job.sh status

topics:  ## create the Kafka topics if missing
	@stack/topics.sh

db-init:  ## roles, database, then the schema migrations not yet applied (sql/timescale/)
	@stack/postgres.sh init

submit-job:  ## submit the monitor job to the Flink cluster (prints job id and UI address)
	@stack/job.sh submit

resume-job:  ## submit the monitor job again from its newest retained checkpoint (CHECKPOINT=dir)
	@stack/job.sh resume $(CHECKPOINT)

cancel-job:  ## cancel the running monitor job
	@stack/job.sh cancel

replay:  ## replay the recorded sample (SPEED=N times real time)
	@$(PY) -m ingest replay --speed $(SPEED)

demo:  ## everything end to end: stack, job, replay of the sample, scores and alerts
	@DEMO_SPEED=$(SPEED) stack/demo.sh

test: up  ## all tests: unit tests and the end-to-end test on the local stack (CI=true: then the fault tests)
	@$(PY) -m pytest
	@if [ "$(CI)" = "true" ]; then $(PY) -m pytest -m slow; fi

test-unit: setup  ## only the tests that need no running services
	@$(PY) -m pytest -m "not stack"

bench: up  ## throughput, latency and memory figures (prints a report)
	@$(PY) -m bench.pipeline

faults: up  ## fault injection on this checkout's stack: recovery and rows vs a no-fault run
	@$(PY) -m bench.faults

test-faults: up  ## the slow fault-injection tests (short input)
	@$(PY) -m pytest -m slow

notify:  ## run the notifier: alerts topic -> channels in config/notifier.yaml
	@$(PY) -m notifier

# FROM/TO: ISO-8601 times (default: the last 6 hours); ASSET: e.g. BTC or BTC,ETH (default:
# the assets Overview shows). Opens offline: OUT/index.html.
report:  ## PNG charts and an HTML page from the database, no Grafana needed (FROM= TO= ASSET= OUT=report-out)
	@$(PY) -m report $(if $(FROM),--from $(FROM)) $(if $(TO),--to $(TO)) \
	  $(if $(ASSET),--asset $(ASSET)) --out $(or $(OUT),report-out)

# IN: recordings / backfills / csv_import output (JSONL, .gz); OUT: report directory.
backtest: setup  ## the job's SQL in batch over recorded files: report, figures (IN= OUT= ARGS=)
	@test -n "$(IN)" || { echo "usage: make backtest IN='rec/*.jsonl.gz' OUT=bt [ARGS='--window-minutes 1440']"; exit 2; }
	@$(PY) -m backtest $(IN) --out $(or $(OUT),backtest-out) $(ARGS)

lint:  ## ruff
	@$(PY) -m ruff check .

clean: down  ## remove all local state (Kafka data, database, checkpoints, jars, venv)
	rm -rf .state .venv
