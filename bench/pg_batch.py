#!/usr/bin/python3
"""Short cells for PostgreSQL's batch insert (issue 20, item 4): creates
through two builds of the module on one private cluster, A-B-A-B, beside
pgbench's single-row INSERT before and after, with the bench's main
PostgreSQL server (its MPM and pool, auditing off) and the same with
auditing on. Not part of `make bench`: a before/after comparison to run
after `make all` and `BENCH_BUILD_ONLY=1 bench/run.sh`, the other build
being an earlier commit's (tools/build-release.sh REV DIR):

  BENCH_BEFORE_MODULE=DIR/.libs/mod_remoteassist.so BENCH_SECONDS=3 \\
      BENCH_CONNS="16 64" /usr/bin/python3 bench/pg_batch.py

It uses bench/cells.py's cells (wrk with the seed's body, one token) and
prints one line per cell; its work directory is build/bench/pg-batch.
With BENCH_PG_CELLS=list it runs the list page of 100 (the operations'
row, on the seeded tenant, auditing off) through both builds instead,
before, after, before, after, for a bounded list's round trips.
"""
import os
import shutil
import sys

os.environ.setdefault("BENCH_WORKDIR", os.path.join("build", "bench", "pg-batch"))
os.environ.setdefault("BENCH_SECONDS", "3")
os.environ.setdefault("BENCH_OPS_ROWS", "200")

from cells import OPERATIONS, ROW_PGBENCH, Bench, Settings  # noqa: E402 - after the knobs

AUDIT_ON = "RemoteAssistAuditEvents On"


def lists(bench, servers):
    listing = next(op for op in OPERATIONS if op.kind == "list")
    for conns in bench.s.conns:
        for build in ("before", "after", "before", "after"):
            bench.http_row("8", f"PostgreSQL list page, {build}", f"list-{build}",
                           servers[f"{build}, audit off"], listing.path(), conns, 200,
                           listing.method, None, bench.ops_bearer())


def creates(bench, servers):
    insert = bench.scripts("pgsql")["insert"]
    for conns in bench.s.conns:
        bench.pgbench(ROW_PGBENCH, "pgbench", conns, insert)
        for audit in ("audit off", "audit on"):
            for build in ("before", "after", "before", "after"):
                name = f"{build}, {audit}"
                bench.create_row("3", f"PostgreSQL create, {name}", f"create-{name}",
                                 servers[name], conns)
        bench.pgbench(ROW_PGBENCH, "pgbench", conns, insert)


def main():
    before = os.environ.get("BENCH_BEFORE_MODULE")
    if not before:
        sys.exit("pg_batch: BENCH_BEFORE_MODULE names the other build's module")
    bench = Bench(Settings())
    bench.quiet_budget = 20  # a shared machine: measure, and report the other load
    try:
        bench.prepare()
        bench.start_pg()
        after = bench.module
        servers = {}
        for build, module in (("before", before), ("after", after)):
            bench.module = os.path.join(os.path.dirname(after), f"mod_remoteassist-{build}.so")
            shutil.copy(module, bench.module)
            for audit, extra in (("audit off", bench.NO_AUDIT), ("audit on", AUDIT_ON)):
                name = f"{build}, {audit}"
                servers[name] = bench.start_httpd("pgsql-" + name.replace(", ", "-")
                                                  .replace(" ", "-"), extra_config=extra)
        bench.seed(servers["after, audit off"])
        if os.environ.get("BENCH_PG_CELLS") == "list":
            lists(bench, servers)
        else:
            creates(bench, servers)
    finally:
        bench.cleanup()
    bench.print_rows()


if __name__ == "__main__":
    main()
