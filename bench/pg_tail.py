#!/usr/bin/python3
"""The PostgreSQL create tail, over time: pgbench's single-row INSERT and the
module's creates in turns, at 16 and 64 connections, on one growing table of
one private cluster, with its checkpoints logged. bench/NOTES.md quotes it.

    bench/pg_tail.py ROUNDS [--truncate] [PG_SETTING=VALUE ...]

Needs what `make bench` built (build/bench/, build/schema-pgsql.sql, the
module) and the bench's insert script (build/bench/run/pgbench-pgbench.sql,
written by a `make bench` run). Each cell runs 3 s of warm-up and 8 s
measured; --truncate empties the table before each cell. Prints one line per
cell, then the cluster's checkpoints and the autovacuum runs on the partners'
table. Everything runs under build/bench/tail/ on 127.0.0.1 and is stopped by
pid at the end.
"""
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)

import cells  # noqa: E402  (the bench's MPM, pool, tenant and wrk script)
import httpd_harness  # noqa: E402
from pg_cluster import PgCluster  # noqa: E402

WORK = os.path.join(ROOT, "build", "bench", "tail")
SCRIPT = os.path.join(ROOT, "build", "bench", "run", "pgbench-pgbench.sql")
# the values the bench's insert script takes (a partner like the seed's)
VALUES = {"new_tenant_id": cells.CREATE_TENANT, "new_display_name": "Display Name value",
          "new_onboarding_url": "https://example.com/onboardingUrl",
          "new_onboarding_status": "notOnboarded",
          "new_last_connection_date_time": "0001-01-01T00:00:00Z",
          "new_last_connection_ticks": "0",
          "new_onboarding_request_expiry_date_time": "0001-01-01T00:00:00Z",
          "new_onboarding_request_expiry_ticks": "0", "new_api_version": "v1.0"}
BODY = ('{"@odata.type":"#microsoft.graph.remoteAssistancePartner","displayName":'
        '"Display Name value","onboardingUrl":"https://example.com/onboardingUrl",'
        '"onboardingStatus":"notOnboarded"}')


def percentiles(latencies):
    lat = sorted(latencies)
    return tuple(lat[min(len(lat) - 1, int(len(lat) * p))] for p in (0.5, 0.99, 0.999))


def pgbench(pg, conns):
    logs = os.path.join(WORK, "pgbench-log")
    shutil.rmtree(logs, ignore_errors=True)
    os.makedirs(logs)
    shutil.chown(logs, "postgres")
    args = ["pgbench", "-n", "-M", "prepared", "-f", os.path.join(WORK, "insert.sql"),
            "-c", str(conns), "-j", "2", "-T", "8", "-l", "--log-prefix",
            os.path.join(logs, "x"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
            pg.database]
    for name, value in VALUES.items():
        args += ["-D", f"{name}={value}"]
    out = subprocess.run(["runuser", "-u", "postgres", "--"] + args, capture_output=True,
                         text=True, cwd=logs, check=True).stdout
    lat = [int(line.split()[2]) / 1000 for f in os.listdir(logs)
           for line in open(os.path.join(logs, f)) if line.strip()]
    return float(re.search(r"tps = ([\d.]+)", out).group(1)), percentiles(lat)


def module(server, token, conns):
    env = dict(os.environ, BENCH_METHOD="POST", BENCH_BODY_FILE=os.path.join(WORK, "create.json"),
               BENCH_AUTH=f"Bearer {token}")
    url = server.base + cells.COLLECTION
    subprocess.run(["wrk", "-t2", f"-c{conns}", "-d3s", "-s", cells.LUA, url], env=env,
                   capture_output=True, check=True)
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", "-d8s", "--latency", "-s", cells.LUA, url],
                         env=env, capture_output=True, text=True, check=True).stdout
    r = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", out.split("BENCH-RESULT")[1])}
    statuses = dict(re.findall(r"BENCH-STATUS (\d+) (\d+)", out))
    if set(statuses) != {"201"}:
        raise SystemExit(f"the module answered {statuses}")
    return (r["requests"] / r["duration_us"] * 1e6,
            (r["p50_us"] / 1000, r["p99_us"] / 1000, r["p999_us"] / 1000))


def main():
    rounds = int(sys.argv[1])
    truncate = "--truncate" in sys.argv
    settings = ["max_connections=300", "log_checkpoints=on", "log_autovacuum_min_duration=0"] + [
        a for a in sys.argv[2:] if a != "--truncate"]
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    os.chmod(WORK, 0o755)
    key, pub = os.path.join(WORK, "rsa.pem"), os.path.join(WORK, "rsa.pub.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", key], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True)
    os.chmod(pub, 0o644)
    token = subprocess.run([os.path.join(ROOT, "tools", "mint_token.py"), "--key", key, "--tid",
                            cells.CREATE_TENANT, "--lifetime", "7200"], capture_output=True,
                           text=True, check=True).stdout.strip()
    with open(os.path.join(WORK, "create.json"), "w") as f:
        f.write(BODY)
    shutil.copy(SCRIPT, os.path.join(WORK, "insert.sql"))
    os.chmod(os.path.join(WORK, "insert.sql"), 0o644)
    pg = PgCluster(os.path.join(WORK, "pg"), settings=settings).start()
    server = None
    try:
        with open(cells.SCHEMA["pgsql"]) as f:
            pg.psql(f.read())
        server = httpd_harness.Httpd(
            os.path.join(WORK, "httpd"), ("pgsql", pg.dbd_params),
            f'RemoteAssistTokenKey "{pub}"', preload="", mpm="event", mpm_config=cells.MPM,
            extra_config=cells.DBD_POOL, log_level="warn")
        server.start()
        for _ in range(rounds):
            for name, run in (("pgbench", lambda c: pgbench(pg, c)),
                              ("module ", lambda c: module(server, token, c))):
                for conns in (16, 64):
                    if truncate:
                        pg.psql("TRUNCATE remote_assistance_partners")
                    rate, (p50, p99, p999) = run(conns)
                    print(f"{time.strftime('%H:%M:%S')} {name} {conns:2d} conns {rate:8.0f}/s "
                          f"p50 {p50:6.2f} p99 {p99:6.2f} p99.9 {p999:6.2f} ms", flush=True)
    finally:
        if server:
            server.stop()
        with open(pg.log) as f:
            checkpoints = [line.rstrip() for line in f
                           if "checkpoint" in line
                           or ("automatic" in line and "remote_assistance_partners" in line)]
        pg.destroy()
    print("\n".join(checkpoints))


if __name__ == "__main__":
    main()
