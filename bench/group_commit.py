#!/usr/bin/python3
"""Short cells for the group commit across children (issue 20, item 2):
SQLite creates through the module with the shared commit queue (the
default) and with RemoteAssistCommitQueue 0 (each child batches its own, as
before), in A-B-A order, beside the raw one-insert-per-commit loop
(bench/sqlite_script.c, synchronous=FULL) before and after, under Debian's
default mpm_event split and conf/remoteassist.conf's pool, and under
Debian's default mpm_prefork. Not part of `make bench`: a quick comparison
to run after `make all` and `BENCH_BUILD_ONLY=1 bench/run.sh`:

  BENCH_SECONDS=3 BENCH_CONNS=16 /usr/bin/python3 bench/group_commit.py

It uses bench/cells.py's cells (wrk with the seed's body, one token) and
prints one line per cell; its work directory is build/bench/group-commit.
"""
import os
import sys

os.environ.setdefault("BENCH_WORKDIR", os.path.join("build", "bench", "group-commit"))
os.environ.setdefault("BENCH_SECONDS", "3")
os.environ.setdefault("BENCH_OPS_ROWS", "200")

from cells import Bench, Settings  # noqa: E402 - after the knobs

# /etc/apache2/mods-available/mpm_event.conf and mpm_prefork.conf on Debian 12
DEBIAN_EVENT = """
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0"""
DEBIAN_PREFORK = """
StartServers 5
MinSpareServers 5
MaxSpareServers 10
MaxRequestWorkers 150
MaxConnectionsPerChild 0"""
# conf/remoteassist.conf as shipped
SHIPPED_POOL = """
DBDMin 1
DBDKeep 4
DBDMax 25"""

SERVERS = {  # name: (mpm module, its settings, children at start, extra config)
    "event shared": ("event", DEBIAN_EVENT, 2, ""),
    "event per child": ("event", DEBIAN_EVENT, 2, "RemoteAssistCommitQueue 0"),
    "prefork shared": ("prefork", DEBIAN_PREFORK, 5, ""),
    "prefork alone": ("prefork", DEBIAN_PREFORK, 5, "RemoteAssistCommitQueue 0"),
}
ORDER = ["event shared", "event per child", "event shared", "event per child",
         "prefork shared", "prefork alone"]


def main():
    bench = Bench(Settings())
    bench.quiet_budget = 20  # a shared machine: measure, and report the other load
    try:
        bench.prepare()
        servers = {}
        for name, (module, mpm, children, extra) in SERVERS.items():
            backend = "sqlite-" + name.replace(" ", "-")
            servers[name] = bench.start_httpd(backend, mpm=mpm, dbd_pool=SHIPPED_POOL,
                                              children=children, extra_config=extra,
                                              mpm_module=module)
        bench.seed(servers["event shared"])
        insert = bench.scripts("sqlite")["insert"]
        for conns in bench.s.conns:
            bench.raw_sqlite(insert)
            for name in ORDER:
                bench.create_row("2", f"SQLite create, {name}", f"create-{name}",
                                 servers[name], conns)
            bench.raw_sqlite(insert)
    finally:
        bench.cleanup()
    bench.print_rows()


if __name__ == "__main__":
    main()
