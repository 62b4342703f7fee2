# `make reliability`: the bounded load-with-faults suite (kill -9 of children,
# graceful restarts, PostgreSQL restart and outage, SQLite disk full) on SQLite
# and PostgreSQL under the event and prefork MPMs; writes docs/RELIABILITY.md.
# Knobs: RELIABILITY_<SETTING>=... (see tests/reliability/run.py).
# `make reliability-report` writes the report again from the last run's
# build/reliability/results.json, with the hostile-input and fuzzing sections
# from build/reliability/hostile.json and build/fuzz/summary.json if present.
.PHONY: reliability reliability-report

reliability: deps-test all
	$(PYTHON) tests/reliability/run.py

reliability-report:
	$(PYTHON) tests/reliability/run.py --report-only
