#!/usr/bin/python3
"""`make reliability`: every fault scenario on SQLite and PostgreSQL, under
the event and prefork MPMs, then docs/RELIABILITY.md.

Runs tests/reliability/load_with_faults.py's scenarios one after the other
in a work directory of its own (wiped first), with one private PostgreSQL
cluster, keeps the results in build/reliability/results.json and writes the
report. Exits 1 when a run broke a promise (problems()), after writing it.
`--report-only` writes the report again from the kept results, e.g. once
build/reliability/hostile.json or build/fuzz/summary.json exist. Those two
files, written by other suites, are each one JSON object: its plain members
are listed, and each member that is a list of objects becomes a table.

Knobs: RELIABILITY_<SETTING> for each field of load_with_faults.Settings
(RELIABILITY_CLIENTS=8, RELIABILITY_BEFORE=5, RELIABILITY_OUTAGE=8, ...),
RELIABILITY_SCENARIOS (comma-separated names: only those runs),
RELIABILITY_OUTPUT (docs/RELIABILITY.md), RELIABILITY_WORKDIR
(build/reliability/run).
"""
import dataclasses
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import load_with_faults as lf  # noqa: E402
from conftest import ROOT, Keys, PgCluster  # noqa: E402

BUILD = os.path.join(ROOT, "build", "reliability")
RESULTS = os.path.join(BUILD, "results.json")
OUTPUT = os.path.join(ROOT, os.environ.get("RELIABILITY_OUTPUT") or "docs/RELIABILITY.md")
WORK = os.path.join(ROOT, os.environ.get("RELIABILITY_WORKDIR") or os.path.join(BUILD, "run"))
# Sections other suites fill: (title, results file, what writes it)
FILL_INS = [
    ("Hostile inputs", os.path.join(BUILD, "hostile.json"), "the hostile-input suite"),
    ("Fuzzing", os.path.join(ROOT, "build", "fuzz", "summary.json"), "make fuzz"),
]
MPMS = ("event", "prefork")
PACKAGES = ["apache2", "libaprutil1", "libaprutil1-dbd-sqlite3", "libaprutil1-dbd-pgsql",
            "libsqlite3-0", "postgresql-15", "libcjose0", "libjansson4", "libssl3",
            "python3-requests"]


def chosen_scenarios():
    names = [n for n in os.environ.get("RELIABILITY_SCENARIOS", "").split(",") if n]
    unknown = [n for n in names if n not in lf.BY_NAME]
    if unknown:
        sys.exit(f"reliability: no scenario {', '.join(unknown)}")
    return [lf.BY_NAME[n] for n in names] if names else lf.SCENARIOS


def settings_from_env():
    s = lf.Settings()
    for field in dataclasses.fields(s):
        value = os.environ.get(f"RELIABILITY_{field.name.upper()}")
        if value:
            setattr(s, field.name, field.type(value))
    return s


def output(args):
    return subprocess.run(args, capture_output=True, text=True).stdout.strip()


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in output(["lscpu"]).splitlines()
                if line.startswith("Model name:")), "?")
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {
        "CPU": f"{cpu}, {os.cpu_count()} vCPU", "memory": f"{mem_kib / 2**20:.1f} GiB",
        "kernel": platform.release(),
        "httpd": output(["/usr/sbin/apache2", "-v"]).splitlines()[0].split(":", 1)[-1].strip(),
        "packages": ", ".join(output(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"]
                                     + PACKAGES).splitlines()),
        "commit": output(["git", "-C", ROOT, "describe", "--always", "--dirty"]),
    }


def run_matrix(settings):
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    os.chmod(WORK, 0o755)
    keys = Keys(make_dir("keys"))
    pg = PgCluster(make_dir("pg")).start()
    results = []
    try:
        for backend in lf.BOTH:
            for mpm in MPMS:
                for scenario in chosen_scenarios():
                    if backend not in scenario.backends:
                        continue
                    name = f"{backend}-{mpm}-{scenario.name}"
                    print(f"reliability: {name} ...", flush=True)
                    try:
                        result = lf.run_scenario(scenario, backend, mpm, settings, keys,
                                                 make_dir(name), pg=pg)
                        result["problems"] = lf.problems(result)
                    except Exception as e:  # recorded; the other runs still go on
                        failed = f"the run failed: {e!r}"[:300]
                        result = {"backend": backend, "mpm": mpm, "scenario": scenario.name,
                                  "not_run": failed, "problems": [failed]}
                    print(f"reliability: {name}: {summary_line(result)}", flush=True)
                    results.append(result)
    finally:
        pg.stop()
    return results


def make_dir(name):
    path = os.path.join(WORK, name)
    os.makedirs(path)
    os.chmod(path, 0o755)
    return path


def summary_line(r):
    if "not_run" in r:
        return f"not run: {r['not_run']}"
    return (f"{r['requests']} requests, {r['created']} created, {r['ids_missing']} missing, "
            f"{r['refused_503']} 503, recovery {fmt_seconds(r['recovery_s'])}"
            + "".join(f"; PROBLEM: {p}" for p in r["problems"]))


def fmt_seconds(value):
    return "—" if value is None else f"{value:.2f} s"


def counts(d):
    return ", ".join(f"{n} {kind}" for kind, n in sorted(d.items())) or "0"


def results_table(rows):
    head = ["scenario", "requests", "201", "rows found", "ids missing",
            "503 (Graph, Retry-After)", "other 5xx", "other answers",
            "connection errors (stored anyway)", "child crashes", "slowest request",
            "recovery", "notes"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * 7 + "---|---:|---:|---:|---|"]
    for r in rows:
        if "not_run" in r:
            lines.append(f"| {r['scenario']} | " + " | ".join(["—"] * 11)
                         + f" | not run: {r['not_run']} |")
            continue
        notes = [r["note"]] + [f"**{p}**" for p in r["problems"]]
        if r.get("in_doubt") and r.get("refused_stored"):
            notes.append(f"{r['refused_stored']} ids answered 503 are stored: committed "
                         "before the module knew they were replicated (a crash before the "
                         "answer, a commit the bound cut short); in doubt until the client's "
                         "retry, as a lost answer is (not judged)")
        if r.get("loses"):
            notes.append(f"asynchronous: {r['ids_missing']} acknowledged ids lost, the "
                         "measured loss window (not judged)")
        if r["severe_log_lines"]:
            notes.append(f"{r['severe_log_lines']} crit/alert lines in the error log, e.g. "
                         f"`{r['severe_sample'][0].split('] ', 3)[-1][:160]}`")
        unanswered = sum(r["connection_errors"].values())
        lines.append("| " + " | ".join(str(c) for c in [
            r["scenario"], r["requests"], r["created"], r["rows_found"], r["ids_missing"],
            r["refused_503"], counts(r["bad_5xx"]), counts(r["other_answers"]),
            f"{counts(r['connection_errors'])} ({r['unanswered_stored']} of {unanswered})",
            f"{r['child_crashes']}" + (f" (+{r['crashes_at_stop']} at the stop)"
                                  if r["crashes_at_stop"] else ""),
            fmt_seconds(r.get("slowest_s")), fmt_seconds(r["recovery_s"]),
            "; ".join(notes)]) + " |")
    return lines


def standby_section(results, replicated):
    """The runs with a PostgreSQL standby, under a heading of their own."""
    rows = [r for r in results if r["scenario"] in replicated]
    if not rows:
        return []
    ran = [r for r in rows if "not_run" not in r]
    lost = sum(r["ids_missing"] for r in ran if r.get("loses"))
    missing = sum(r["ids_missing"] for r in ran if not r.get("loses"))
    lines = ["## PostgreSQL with a standby", "",
             f"{len(ran)} runs: {missing} ids answered 201 missing with a synchronous "
             f"standby; {lost} lost with an asynchronous one (the loss window); slowest "
             f"request {max((r['slowest_s'] for r in ran), default=0):.2f} s.", ""]
    for mpm in MPMS:
        mine = [r for r in rows if r["mpm"] == mpm]
        if mine:
            lines += [f"### pgsql with a standby, {mpm} MPM", ""] + results_table(mine) + [""]
    return lines


def fill_in(title, path, writer):
    """A section from another suite's JSON object: its plain members as a
    list, each member that is a list of objects as a table."""
    lines = [f"## {title}", ""]
    if not os.path.exists(path):
        return lines + [f"not run: `{os.path.relpath(path, ROOT)}` (written by {writer}) "
                        "does not exist.", ""]
    with open(path) as f:
        data = json.load(f)
    lines.append(f"From `{os.path.relpath(path, ROOT)}`, written by {writer}.")
    lines.append("")
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            cols = list(dict.fromkeys(k for v in value for k in v))
            lines += ["", f"**{key}**", "", "| " + " | ".join(cols) + " |",
                      "|" + "---|" * len(cols)]
            lines += ["| " + " | ".join(str(v.get(c, "")) for c in cols) + " |" for v in value]
        else:
            shown = json.dumps(value) if isinstance(value, (dict, list)) else value
            lines.append(f"- {key}: {shown}")
    return lines + [""]


def report(doc):
    s, results = doc["settings"], doc["results"]
    ran = [r for r in results if "not_run" not in r]
    broken = [r for r in results if r.get("problems")]
    disk = [r for r in results if r["scenario"] == "disk-full"]
    disk_ran = disk and all("not_run" not in r for r in disk)
    disk_skipped = "; ".join(sorted({r["not_run"] for r in disk if "not_run" in r}))
    lines = [
        "# Reliability: creates under load with faults",
        "",
        f"Produced by `{doc['command']}` (tests/reliability/run.py) on {doc['date']}; the run "
        f"took {doc['minutes']:.1f} min. The per-run results are in "
        f"{os.path.relpath(RESULTS, ROOT)} and the servers' error logs under "
        f"{os.path.relpath(WORK, ROOT)}/, which are not committed.",
        "",
        "## Machine", "", "| item | value |", "|---|---|",
    ] + [f"| {k} | {v} |" for k, v in doc["machine"].items()] + [
        "",
        "## What each run does",
        "",
        f"A fresh httpd (Debian's default `mpm_event.conf` or `mpm_prefork.conf` settings, "
        f"the SQLite writer mutex at APR's default mechanism) on SQLite or on one private "
        f"PostgreSQL cluster. {s['clients']} clients on keep-alive connections create "
        f"partners with ids of their own, "
        + (f"{s['rate']:g} creates/s in all" if s["rate"] else "as fast as they go")
        + f" (at most {s['max_requests']:,} per run), each with its own valid token. "
        f"After {s['before']:g} s the fault is injected; once it has ended, the load goes on "
        f"until creates have succeeded for {s['settle']:g} s with no failure (at most "
        f"{s['recovery_limit']:g} s). Then every id that got a 201 is looked up in the "
        "database.",
        "",
        "- **rows found / ids missing**: ids answered 201 that are / are not in the database.",
        "- **503**: answers that are a Graph error body (`ServiceNotAvailable`) with a numeric "
        "`Retry-After`; **other 5xx**: every other 5xx, by status and what is wrong with it.",
        "- **connection errors**: requests that got no answer (a killed child, a closed "
        "keep-alive connection), by kind; in brackets how many of those ids were stored "
        "anyway (committed, never answered: a client must treat them as in doubt).",
        "- **child crashes**: `AH00051`/`AH00052` lines (a child died of a signal httpd did "
        "not send itself; the kill -9 of the test is not logged by httpd), read "
        f"{lf.REAP_WAIT:g} s after the load; any logged once the run's httpd is stopped "
        "(SIGTERM) are shown as \"at the stop\".",
        "- **recovery**: from the end of the fault to the first 201 after the last failed "
        f"request; the promise is at most {lf.RECOVERY_BOUND:g} s, one `Retry-After`.",
        "- **slowest request**: the longest any request took, from sending it to its answer "
        "(or its error); the runs with a PostgreSQL standby have a bound (`RemoteAssistQuery"
        "Timeout` 1 s on each statement, `connect_timeout=2` per host), which no request "
        "may pass.",
        "- A run breaks a promise (shown in bold) when an id is missing, a 5xx is not a "
        "Graph 503 with Retry-After, an id answered 503 is stored, a child crashed, the "
        "parent exited, a database fault refused no create at all (untested), or recovery "
        "took longer than the bound.",
        "",
        "| scenario | backends | fault |", "|---|---|---|",
    ] + [f"| {sc.name} | {', '.join(sc.backends)} | {sc.fault} |" for sc in lf.SCENARIOS] + [
        "",
        f"kill-8 waits up to {lf.RESPAWN_WAIT:g} s after each kill for a new child; graceful sends "
        f"{s['restarts']} SIGUSR1 {s['restart_gap']:g} s apart; pg-outage keeps PostgreSQL "
        f"down {s['outage']:g} s; the disk stays full {s['hold']:g} s after its first "
        "refused create. **disk-full** puts the SQLite directory on a tmpfs of its own, "
        "fills it and frees the space again (no restart); **disk-full-simulated** makes "
        "SQLite answer `SQLITE_FULL` through `DBDInitSQL \"PRAGMA max_page_count = 1\"` on "
        "every new pooled connection, set and lifted by a graceful restart, for machines "
        "that refuse `mount` (CI containers). In this run the real filesystem "
        + ("ran" if disk_ran else f"did not run ({disk_skipped})") + ". "
        "The **pg-failover**, **pg-freeze** and **pg-standby-lost** runs have a primary "
        "and a standby of their own (`pg_basebackup -R`, synchronous: "
        "`synchronous_standby_names = '*'`), and DBDParams naming both with "
        "`target_session_attrs=read-write` (docs/deploy.md, \"Failover to a PostgreSQL "
        "standby\"); ids are looked up on the standby (the promoted one, or after it "
        f"replayed everything). pg-freeze and pg-standby-lost last {s['outage']:g} s. "
        f"**pg-failover-async** has no synchronous standby and holds it {s.get('lag', 1.0):g} s "
        "behind (the primary's WAL sender stopped) before the primary crashes: its missing "
        "ids are the loss window PostgreSQL documents for asynchronous replication, counted, "
        "not judged. In the standby runs a 503 may be stored (a commit made before the "
        "module knew it was replicated: docs/deploy.md, \"Bounded waits\"); those are "
        "counted in the notes, not judged.",
        "",
        f"## Results: {len(ran)} runs, {sum(r['requests'] for r in ran):,} requests, "
        f"{sum(r['created'] for r in ran):,} created, "
        f"{sum(r['ids_missing'] for r in ran if not r.get('loses'))} ids missing, "
        f"{sum(r['child_crashes'] for r in ran)} child crashes, "
        f"{len(broken)} runs breaking a promise",
        "",
    ]
    replicated = {sc.name for sc in lf.SCENARIOS if sc.replication}
    for backend in lf.BOTH:
        for mpm in MPMS:
            rows = [r for r in results if r["backend"] == backend and r["mpm"] == mpm
                    and r["scenario"] not in replicated]
            if rows:
                lines += [f"### {backend}, {mpm} MPM", ""] + results_table(rows) + [""]
    lines += standby_section(results, replicated)
    for title, path, writer in FILL_INS:
        lines += fill_in(title, path, writer)
    return "\n".join(lines)


def main():
    if "--report-only" not in sys.argv:
        settings = settings_from_env()
        started, host = time.time(), machine()
        results = run_matrix(settings)
        knobs = [f"{k}={v}" for k, v in sorted(os.environ.items())
                 if k.startswith("RELIABILITY_")]
        doc = {"command": " ".join(["make reliability"] + knobs),
               "settings": dataclasses.asdict(settings),
               "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
               "minutes": (time.time() - started) / 60, "machine": host,
               "results": results}
        os.makedirs(BUILD, exist_ok=True)
        with open(RESULTS, "w") as f:
            json.dump(doc, f, indent=1)
    with open(RESULTS) as f:
        doc = json.load(f)
    with open(OUTPUT, "w") as f:
        f.write(report(doc))
    print(f"reliability: wrote {os.path.relpath(OUTPUT, ROOT)}")
    broken = [r for r in doc["results"] if r.get("problems")]
    for r in broken:
        print(f"reliability: {r['backend']}-{r['mpm']}-{r['scenario']}: {r['problems']}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
