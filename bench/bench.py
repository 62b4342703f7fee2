#!/usr/bin/python3
"""`make bench`: the module's operations against the database and the HTTP path.

Called by bench/run.sh once the module (make all) and the bench baselines
(build/bench/) are built. Starts everything it needs on 127.0.0.1 under
build/bench/run/ (a private PostgreSQL cluster, two httpd servers from
tools/httpd_harness.py), runs every cell for a fixed time, stops everything
by pid, prints one table and writes it to docs/BENCHMARKS.md ($BENCH_OUTPUT)
with the machine, the versions, the settings and the exact commands. Every
ratio is taken within this run. It never fails on a number; it exits 1 only
when a cell could not be run at all (the table then says which).

This file only orders the steps; bench/cells.py starts and measures the
cells, bench/goals.py judges their results against the goals, and
bench/report.py writes the tables and the report.

Environment knobs (make bench VAR=... passes them too):
  BENCH_SECONDS          seconds per cell (10)
  BENCH_CONNS            connection counts (\"1 16 64\")
  BENCH_MEMORY_REQUESTS  creates between the two RSS readings (200000)
  BENCH_MEMORY_CONNS     connections for the memory run (16)
  BENCH_OPS_ROWS         partners of the tenant the reads and updates run on (3000)
  BENCH_FEATURE_REPEATS  On runs of each feature's On ÷ Off rows, alternating with Off (3;
                         1: one On run and one Off run, no noise;
                         BENCH_METRICS_REPEATS, its former name, still counts)
  BENCH_SHIPPED_ROWS     partners in the shipped configuration's database (100000; made
                         once and cached under build/bench/cache/)
  BENCH_LARGE_ROWS       partners of the large data set's database (1000000; 10,000 tenants;
                         issue 20 names 10000000; made once and cached under build/bench/cache/)
  BENCH_PG_SETTINGS      more settings of the run's PostgreSQL cluster, space-separated
                         ("shared_buffers=1GB"; default none: PostgreSQL's defaults)
  BENCH_STEPS            only these steps, by name (default all): verify pg sqlite
                         sqlite-1child shipped features flood pgsql batch mix large
  BENCH_MEMORY_SECONDS   time limit of the memory run (300)
  BENCH_OPENSSL_SECONDS  openssl speed -seconds, and the verify driver's time (3)
  BENCH_OUTPUT           where the report goes (docs/BENCHMARKS.md)
  BENCH_WORKDIR          servers, databases and logs, wiped first (build/bench/run)
  BENCH_QUIET_BUDGET     seconds the run may wait in all for other load to pass (240)
  BENCH_RETRIES          cells that may be repeated because other load disturbed them (8)
"""
import os
import signal
import subprocess
import sys
import time

from cells import (FEATURES, LOGS, OPERATIONS, ROOT, ROW_CREATE_PGSQL, ROW_PGBENCH, Bench,
                   CellError, Settings)
from goals import evaluate_goals
from report import render_report


def main():
    settings = Settings()
    bench = Bench(settings)
    started = time.time()

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    steps = [("verify", "token verification", bench.verify),
             ("pg", "PostgreSQL cluster", bench.start_pg),
             ("sqlite", "httpd on SQLite", bench.http_sqlite),
             ("sqlite-1child", "httpd on SQLite, one child", bench.http_sqlite_one_child),
             ("shipped", "httpd on SQLite, the shipped configuration", bench.http_shipped),
             ("features", "httpd on SQLite, features On and Off", bench.features_cost),
             ("flood", "httpd on SQLite, another tenant during a throttled flood",
              bench.throttle_flood),
             ("pgsql", "httpd on PostgreSQL", bench.http_pgsql),
             ("batch", "httpd on SQLite, $batch against separate creates (unless the sqlite step ran it)",
              bench.batch),
             ("mix", "httpd on SQLite, the shipped configuration, a mixed load of 1,000 tenants",
              bench.mixed_load),
             ("large", "httpd on SQLite and PostgreSQL, reads on a large data set",
              bench.large_data)]
    unknown = set(settings.steps) - {key for key, _, _ in steps}
    if unknown:
        print(f"bench: BENCH_STEPS names no step {' '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    # the PostgreSQL cluster runs for the steps that need it
    steps = [(label, step) for key, label, step in steps
             if not settings.steps or key in settings.steps
             or (key == "pg" and {"pgsql", "large"} & set(settings.steps))]
    try:
        bench.prepare()
        bench.collect_info()
        print(f"bench: {settings.secs()} s per cell, connections {settings.conns}, "
              f"logs in {os.path.relpath(LOGS, ROOT)}/", flush=True)
        for label, step in steps:
            if label == "httpd on PostgreSQL" and not bench.pg:
                bench.fail_rows("1", [ROW_PGBENCH], "-", "no PostgreSQL cluster")
                bench.fail_rows("3", [ROW_CREATE_PGSQL], "-", "no PostgreSQL cluster")
                continue
            print(f"bench: {label} ({(time.time() - started) / 60:.1f} min)", flush=True)
            try:
                step()
            except (CellError, RuntimeError, subprocess.CalledProcessError, OSError) as e:
                detail = getattr(e, "stderr", None) or ""
                bench.errors.append(f"{label}: {e} {detail}".strip())
                print(f"bench: {label} failed: {e} {detail}", file=sys.stderr, flush=True)
    finally:
        bench.cleanup()
    goal_rows = evaluate_goals(bench.results, settings, OPERATIONS, FEATURES)
    table, goals, text = render_report(bench, goal_rows, time.time() - started)
    os.makedirs(os.path.dirname(settings.output), exist_ok=True)
    with open(settings.output, "w") as f:
        f.write(text)
    print()
    print(table)
    print()
    print(goals)
    print(f"\nbench: written to {os.path.relpath(settings.output, ROOT)} in "
          f"{(time.time() - started) / 60:.1f} min")
    if bench.errors:
        print("bench: some cells could not run:\n  " + "\n  ".join(bench.errors),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
