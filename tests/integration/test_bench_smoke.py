"""`make bench` keeps working: one short pass of every row.

Runs `make bench` with 1 s per cell, 1 connection, a 1,000-request memory
run, a 120-partner tenant for the reads and updates (a list page of 100 and a
nextLink), one On and one Off run per feature (and A, B without the second A
in the other A-B-A rows), and 10,000 partners for the shipped configuration
and the large data set (its large side then is its 10,000-row side: one
server each), from the repository root (no waiting for other load, no
repeats), into a work directory and
report file of its own, so the committed docs/BENCHMARKS.md and a full run's
build/bench/run/ are left alone. It checks the exit status and that the
printed table has every row with its numbers filled in. The numbers
themselves are not judged: that is what the full run is for.
"""
import os
import re
import subprocess

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

AGAIN = " (again, after the module's cell)"
# The module's rows whose ratio is judged over a baseline run before and after
# them: (section, start of the label, its baseline's label)
JUDGED_ABA = [
    ("3", "create, PostgreSQL", "pgbench -M prepared, the module's INSERT, same table"),
    ("7", "get by id", "raw SQLite loop (C), the module's get statement (SELECT by tenant and id)"),
    ("7", "list page of 100", "raw SQLite loop (C), the SQL the module generates for that page"),
    ("8", "get by id",
     "pgbench -M prepared, the module's get statement (SELECT by tenant and id)"),
    ("8", "list page of 100", "pgbench -M extended, the SQL the module generates for that page"),
]
# the goals judged on those rows (issue 20's, and issue 9's SQLite get)
JUDGED_ABA_GOALS = ["create/s PostgreSQL ÷ pgbench single-row INSERT tps ≥ 1.0",
                    "create p99 PostgreSQL ÷ pgbench p99 ≤ 2",
                    "list page of 100, SQLite: req/s ÷ the raw SQLite loop of its statements/s",
                    "list page of 100, PostgreSQL: req/s ÷ pgbench of its statements/s",
                    "get by id, PostgreSQL: req/s ÷ pgbench of its statements/s",
                    "get by id, SQLite: req/s ÷ the raw SQLite loop of its statements/s"]
# (section, start of the row's label, whether it has latencies, whether it has
# a ratio, what it does to the table: "adds" rows, adds "none", or "changes"
# partners without adding any; None: not counted)
ROWS = [
    ("1", "raw SQLite insert loop (C), WAL, synchronous=FULL", True, False, "adds"),
    ("1", "raw SQLite insert loop (C), WAL, synchronous=NORMAL", True, False, "adds"),
    ("1", "raw SQLite loop (C), the module's get statement", True, False, "none"),
    ("1", "raw SQLite loop (C), the SQL the module generates", True, False, "none"),
    ("1", "raw SQLite loop (C), the module's get + replace", True, False, "changes"),
    ("1", "pgbench -M prepared, the module's INSERT", True, False, "adds"),
    ("1", "pgbench -M prepared, the module's get statement", True, False, "none"),
    ("1", "pgbench -M extended, the SQL the module generates", True, False, "none"),
    ("1", "pgbench -M prepared, the module's get + replace", True, False, "changes"),
    # the second A of the judged ratios' A-B-A
    ("1", "raw SQLite loop (C), the module's get statement (SELECT by tenant and id)" + AGAIN,
     True, False, "none"),
    ("1", "raw SQLite loop (C), the SQL the module generates for that page" + AGAIN, True, False,
     "none"),
    ("1", "pgbench -M prepared, the module's INSERT, same table" + AGAIN, True, False, "adds"),
    ("1", "pgbench -M prepared, the module's get statement (SELECT by tenant and id)" + AGAIN,
     True, False, "none"),
    ("1", "pgbench -M extended, the SQL the module generates for that page" + AGAIN, True,
     False, "none"),
    ("1", "static GET", True, False, None),
    ("1", "minimal POST handler", True, False, None),
    ("2", "create, SQLite", True, True, "adds"),
    ("2", "diagnostic: the same creates, 1 child", True, True, "adds"),
    ("1", "shipped config: raw SQLite insert loop (C), WAL, synchronous=FULL, on a copy (before",
     True, False, "adds"),
    ("2", "shipped config: create, SQLite", True, True, "adds"),
    ("1", "shipped config: raw SQLite insert loop (C), WAL, synchronous=FULL, on a copy (after",
     True, False, "adds"),
    ("3", "create, PostgreSQL", True, True, "adds"),
    ("4", "401, malformed token", True, True, "none"),
    ("4", "405, DELETE on the collection", True, True, "none"),
    ("4", "400, malformed JSON", True, True, "none"),
    ("5", "RS256 verify, token unit", False, True, None),
    ("5", "RS256 cached token check, token unit", False, True, None),
    ("5", "openssl speed rsa2048 verify", False, False, None),
    ("5", "ES256 verify, token unit", False, True, None),
    ("5", "ES256 cached token check, token unit", False, True, None),
    ("5", "openssl speed ecdsap256 verify", False, False, None),
    ("6", "RSS per child, 1,000 creates (sqlite)", True, True, "adds"),
    ("6", "RSS per child, 1,000 creates (pgsql)", True, True, "adds"),
    ("7", "get by id", True, True, "none"),
    ("7", "list page of 100", True, True, "none"),
    ("7", "PATCH one property", True, True, "changes"),
    ("8", "get by id", True, True, "none"),
    ("8", "list page of 100", True, True, "none"),
    ("8", "PATCH one property", True, True, "changes"),
    ("9", "On ÷ Off: metrics (RemoteAssistMetrics), SQLite, 2 children, create", True, True,
     "adds"),
    ("9", "On ÷ Off: metrics (RemoteAssistMetrics), SQLite, 2 children, get", True, True, "none"),
    ("9", "On ÷ Off: throttling (RemoteAssistThrottle), SQLite, 2 children, create", True, True,
     "adds"),
    ("9", "On ÷ Off: throttling (RemoteAssistThrottle), SQLite, 2 children, get", True, True,
     "none"),
    ("9", "signed $skiptoken: made + verified, query unit", False, True, None),
    ("9", "another tenant's get p99 during a throttled flood ÷ alone", True, True, None),
    ("10", "large data set: get by id, SQLite, 10,000 partners ÷ 10,000", True, True, "none"),
    ("10", "large data set: list page of 100, SQLite, 10,000 partners ÷ 10,000", True, True,
     "none"),
    ("10", "large data set: get by id, PostgreSQL, 10,000 partners ÷ 10,000", True, True,
     "none"),
    ("10", "large data set: list page of 100, PostgreSQL, 10,000 partners ÷ 10,000", True,
     True, "none"),
    ("10", "mixed load, 1,000 tenants", True, True, "adds"),
    ("10", "20 creates in one $batch ÷ 20 separate creates", False, True, "adds"),
]
# issue 20's table (10: the shipped SQLite ratio and p99, the PostgreSQL ratio and
# p99, two list pages, PostgreSQL's get, CPU per create, the large data set, the
# mixed load) and the earlier issues' (13, the $batch row among them)
GOALS = 23
ISSUE_20_GOALS = ["shipped config: SQLite creates ÷ raw one-insert-per-commit loop (A-B-A) ≥ 1.5",
                  "shipped config: SQLite create p99 ≤ 10 ms",
                  "create/s PostgreSQL ÷ pgbench single-row INSERT tps ≥ 1.0",
                  "create p99 PostgreSQL ÷ pgbench p99 ≤ 2",
                  "list page of 100, SQLite: req/s ÷ the raw SQLite loop of its statements/s ≥ 0.3",
                  "list page of 100, PostgreSQL: req/s ÷ pgbench of its statements/s ≥ 0.4",
                  "get by id, PostgreSQL: req/s ÷ pgbench of its statements/s ≥ 0.4",
                  "httpd CPU per create ≤ 100 µs",
                  "get by id and list page p99 with 10,000 partners (10,000 tenants) ÷ with "
                  "10,000 ≤ 1.5",
                  "mixed load of 1,000 tenants (80 % list/get, 15 % PATCH and actions, 5 % "
                  "creates), shipped config: get p99 during ÷ alone ≤ 2"]
NUMBER = re.compile(r"^-?[\d,]+(\.\d+)?$")


def table_rows(stdout):
    """The printed markdown tables' body lines, split into cells."""
    rows = []
    for line in stdout.splitlines():
        if line.startswith("| ") and not line.startswith("| §") \
                and not line.startswith("| goal"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    report = tmp_path_factory.mktemp("bench") / "BENCHMARKS.md"
    env = dict(os.environ, BENCH_SECONDS="1", BENCH_CONNS="1", BENCH_MEMORY_REQUESTS="1000",
               BENCH_OPS_ROWS="120", BENCH_OPENSSL_SECONDS="1", BENCH_OUTPUT=str(report), BENCH_FEATURE_REPEATS="1",
               BENCH_SHIPPED_ROWS="10000", BENCH_LARGE_ROWS="10000",
               BENCH_WORKDIR="build/bench/smoke", BENCH_QUIET_BUDGET="0", BENCH_RETRIES="0")
    for name in ("RA_MODULE", "RA_PRELOAD", "MAKEFLAGS", "MFLAGS"):
        env.pop(name, None)  # the real module, built by make all, unsanitized
    proc = subprocess.run(["make", "bench"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=230)
    return proc, report


def test_make_bench_exits_0(bench_run):
    proc, _ = bench_run
    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr[-4000:])


def test_every_row_has_its_numbers(bench_run):
    proc, _ = bench_run
    rows = table_rows(proc.stdout)
    for section, label, latencies, ratio, rows_done in ROWS:
        found = [r for r in rows if r[0] == section and r[1].startswith(label)
                 and (AGAIN in r[1]) == (AGAIN in label)]
        assert len(found) == 1, f"row {label!r}: {len(found)} in\n{proc.stdout}"
        row = found[0]
        assert NUMBER.match(row[3]), f"{label}: ops/s is {row[3]!r}"
        if latencies:
            for col in (4, 5, 6):
                assert NUMBER.match(row[col]), f"{label}: column {col} is {row[col]!r}"
            assert row[7] == "0", f"{label}: {row[7]} responses not as expected: {row}"
        if ratio:
            assert re.search(r"\d+\.\d+", row[9]), f"{label}: ratio is {row[9]!r}"
        if rows_done == "adds":
            assert NUMBER.match(row[8]) and int(row[8].replace(",", "")) > 0, row
        if rows_done in ("none", "changes"):
            assert row[8] == "0", f"{label}: stored rows: {row}"
        if rows_done == "changes":
            changed = re.search(r"partners changed ([\d,]+)", row[10])
            assert changed and int(changed.group(1).replace(",", "")) > 0, row


def test_judged_ratios_are_over_a_baseline_run_before_and_after(bench_run):
    """Each ratio issue 20 judges against a baseline of its own statements
    is over the mean of the baseline's run right before the module's cell
    and its run right after, with their spread as the noise, in the row and
    in the goals table."""
    proc, _ = bench_run
    rows = table_rows(proc.stdout)

    def rate(row):
        return float(row[3].replace(",", ""))
    for section, label, baseline in JUDGED_ABA:
        row = next(r for r in rows if r[0] == section and r[1].startswith(label))
        assert re.search(r"; baseline mean of 2, noise ±\d+\.\d %", row[9]), row
        # the printed ratio is over the mean of the baseline's two runs at the
        # row's connections (the table's rates are rounded: a small tolerance)
        runs = [r for r in rows if r[0] == "1" and r[2] == row[2]
                and r[1] in (baseline, baseline + AGAIN)]
        assert len(runs) == 2, (row, runs)
        printed = float(re.search(r"÷ (?:pgbench|raw) (\d+\.\d+)", row[9]).group(1))
        mean = sum(rate(r) for r in runs) / 2
        assert abs(printed - rate(row) / mean) <= 0.0051 + 0.002 * printed, (row, runs)
    goals = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    for goal in JUDGED_ABA_GOALS:
        line = next(g for g in goals if g.startswith("| " + goal))
        assert "A-B-A" in line and ("baseline noise ±" in line
                                    or "baseline: mean of 2" in line), line


def test_every_goal_is_evaluated(bench_run):
    proc, _ = bench_run
    goals = [line for line in proc.stdout.splitlines()
             if line.startswith("| ") and line.rstrip().endswith(("| yes |", "| **no** |"))]
    assert len(goals) == GOALS, proc.stdout
    # issue 20's goals come first, in its table's order, each with a number
    for line, goal in zip(goals, ISSUE_20_GOALS):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert cells[0].startswith(goal) and re.search(r"\d", cells[2]), line


def test_report_file_holds_the_run(bench_run):
    proc, report = bench_run
    text = report.read_text()
    assert "make bench BENCH_SECONDS=1 BENCH_CONNS=1" in text
    assert "BENCH_LARGE_ROWS=10000" in text
    for heading in ("## Results", "## Goals", "## Machine and versions", "## Settings",
                    "## Commands, in the order they ran"):
        assert heading in text
    assert "wrk -t1 -c1 -d1s" in text and "pgbench -n -M prepared" in text
