"""Issue 15, items 3 and 4: the health check (SetHandler remoteassist-health),
the Prometheus metrics (SetHandler remoteassist-metrics) and the mod_status
section, on SQLite and PostgreSQL: counters move as a known sequence of
requests says, the whole exposition parses by the text format's rules, the
health check answers 503 naming the failing part (PostgreSQL stopped, keys
not fetched), and the counters survive a graceful restart."""
import json
import math
import os
import re
import signal
import socket
import time

import pytest
import requests

from conftest import COLLECTION, SEED_V1, TENANT, location_block, standard_locations
from httpd_harness import MODULES, free_port

OBSERVE = """
<Location "/metrics">
    SetHandler remoteassist-metrics
</Location>
<Location "/health">
    SetHandler remoteassist-health
</Location>
"""
STATUS = f"""
LoadModule status_module {MODULES}/mod_status.so
<Location "/server-status">
    SetHandler server-status
</Location>
"""
LABELS = {"operation", "class", "status", "reason", "le"}


# ------------------------------------------------- the text format 0.0.4

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(?:,|$)')


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, f"bad label syntax at {text[pos:]!r}"
        assert m.group(1) not in labels, f"label {m.group(1)} twice in {text!r}"
        labels[m.group(1)] = m.group(2)
        pos = m.end()
    return labels


def parse_value(text):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    assert re.fullmatch(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text), f"bad value {text!r}"
    return float(text)


def parse_exposition(text):
    """{family: {"type", "help", "samples": [(name, labels, value)]}} from text
    in the exposition format 0.0.4, asserting its rules on the way: HELP and
    TYPE at most once per family and before its samples, a family's samples
    together, sample names of the family's type, label syntax, values; for
    histograms cumulative buckets per label set, le="+Inf" equal to _count,
    and a _sum; counters named *_total."""
    assert text.endswith("\n"), "the exposition ends with a line feed"
    families, order, current = {}, [], None

    def family_of(name):
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and families.get(base, {}).get("type") == "histogram":
                return base
        return name

    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                fam = families.setdefault(name, {"type": "untyped", "help": None,
                                                 "samples": []})
                assert not fam["samples"], f"{parts[1]} of {name} after its samples"
                key = parts[1].lower()
                assert fam.get("seen_" + key) is None, f"{parts[1]} of {name} twice"
                fam["seen_" + key] = True
                value = parts[3] if len(parts) > 3 else ""
                if key == "type":
                    assert value in ("counter", "gauge", "histogram", "summary", "untyped")
                fam[key] = value
                if name not in order:
                    order.append(name)
                current = name
            continue
        assert line.strip(), "an empty line"
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels, value = m.group(1), parse_labels(m.group(2) or ""), parse_value(m.group(3))
        fam = family_of(name)
        assert fam == current, f"{name} outside its family's block (in {current})"
        families[fam]["samples"].append((name, labels, value))
    for name, fam in families.items():
        if fam["type"] == "counter":
            assert name.endswith("_total"), f"counter {name} does not end in _total"
            assert all(v >= 0 for _, _, v in fam["samples"])
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    series = {}
    for sample_name, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        entry = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sample_name == name + "_bucket":
            entry["buckets"].append((parse_value(labels["le"]), value))
        elif sample_name == name + "_sum":
            entry["sum"] = value
        elif sample_name == name + "_count":
            entry["count"] = value
        else:
            raise AssertionError(f"{sample_name} in histogram {name}")
    for key, entry in series.items():
        bounds = [b for b, _ in entry["buckets"]]
        counts = [c for _, c in entry["buckets"]]
        assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), (name, key)
        assert bounds and math.isinf(bounds[-1]), f"{name}{key}: no le=\"+Inf\""
        assert counts == sorted(counts), f"{name}{key}: buckets not cumulative {counts}"
        assert entry["count"] == counts[-1], f"{name}{key}: _count != le=\"+Inf\""
        assert entry["sum"] is not None, f"{name}{key}: no _sum"


def test_the_format_check_refuses_broken_expositions():
    """The parser above can fail: each of these breaks one rule."""
    broken = [
        "x_total 1",
        "# TYPE a_total counter\na_total 1\n# TYPE a_total counter\n",
        "# TYPE a counter\na 1\n",
        "# TYPE a_total counter\na_total{x=y} 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",
        "# TYPE a_total counter\na_total 1\n# TYPE b_total counter\nb_total 1\na_total 2\n",
        "# TYPE a_total counter\na_total one\n",
    ]
    for text in broken:
        with pytest.raises(AssertionError):
            parse_exposition(text if text.endswith("\n") else text + "\n")


# ------------------------------------------------------------- helpers

def start(private_service, backend, request, name, extra="", **kw):
    """A service with the health and metrics locations; request: the test's
    (for the session's PostgreSQL cluster), None on SQLite."""
    pg = request.getfixturevalue("pg") if backend == "pgsql" else None
    return private_service(f"{name}-{backend}", pg=pg, extra_config=OBSERVE + extra, **kw)


def scrape(svc):
    resp = requests.get(svc.httpd.base + "/metrics", timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse_exposition(resp.text)


def value(families, name, **labels):
    family = families[re.sub(r"_(bucket|sum|count)$", "", name)
                      if name not in families else name]
    found = [v for n, l, v in family["samples"]
             if n == name and all(l.get(k) == str(v2) for k, v2 in labels.items())]
    assert found, f"no {name}{labels}"
    return sum(found)


def wait_for(svc, condition, timeout=10):
    """The scrape once condition(families) holds: a request is counted when
    httpd logs it, just after its answer went out."""
    deadline = time.time() + timeout
    while True:
        families = scrape(svc)
        if condition(families) or time.time() > deadline:
            return families
        time.sleep(0.05)


def health(svc):
    resp = requests.get(svc.httpd.base + "/health", timeout=30)
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json()
    # the parts and their states only: never a tenant, an id or data
    assert set(body) <= {"status", "configuration", "database", "keys", "version"}, body
    assert TENANT not in resp.text
    return resp.status_code, body, resp


# --------------------------------------------------------------- metrics

@pytest.mark.parametrize("backend", ["sqlite", "pgsql"])
def test_counters_follow_a_known_sequence(private_service, request, backend):
    svc = start(private_service, backend, request, "metrics")
    before = scrape(svc)
    created = [svc.post(SEED_V1) for _ in range(3)]
    assert [r.status_code for r in created] == [201] * 3
    assert svc.post(SEED_V1, token=svc.keys.token(key=svc.keys.rsa_other)).status_code == 401
    got = svc.session.get(created[0].headers["Location"],
                          headers={"Authorization": f"Bearer {svc.keys.token()}"}, timeout=10)
    assert got.status_code == 200

    def moved(f, b=before):
        return (value(f, "remoteassist_requests_total", operation="create", **{"class": "2xx"})
                - value(b, "remoteassist_requests_total", operation="create",
                        **{"class": "2xx"}) >= 3
                and value(f, "remoteassist_requests_total", operation="get",
                          **{"class": "2xx"}) >= 1)
    after = wait_for(svc, moved)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)
    assert delta("remoteassist_requests_total", operation="create", **{"class": "2xx"}) == 3
    assert delta("remoteassist_requests_total", operation="create", **{"class": "4xx"}) == 1
    assert delta("remoteassist_requests_total", operation="get", **{"class": "2xx"}) == 1
    assert delta("remoteassist_requests_total", operation="list") == 0
    assert delta("remoteassist_auth_refusals_total", status="401") == 1
    assert delta("remoteassist_auth_refusals_total", status="401",
                 reason="bad_signature") == 1
    assert delta("remoteassist_auth_refusals_total", status="403") == 0
    assert delta("remoteassist_database_seconds_count", operation="create") == 3
    assert delta("remoteassist_database_seconds_count", operation="get") == 1
    assert delta("remoteassist_database_seconds_sum", operation="create") > 0
    assert delta("remoteassist_commit_batch_rows_sum") == 3
    assert 1 <= delta("remoteassist_commit_batch_rows_count") <= 3
    # every token met the cache: five lookups, hit or miss
    lookups = (delta("remoteassist_token_cache_hits_total")
               + delta("remoteassist_token_cache_misses_total"))
    assert lookups == 5
    assert value(after, "remoteassist_throttled_total") == 0
    assert 0 <= value(after, "remoteassist_keys_age_seconds") < 600
    # no label names a tenant, an app or an address
    for family in after.values():
        for _, labels, _ in family["samples"]:
            assert set(labels) <= LABELS, labels


@pytest.mark.parametrize("backend", ["sqlite"])
def test_refusals_before_routing_count_as_other(private_service, request, backend):
    svc = start(private_service, backend, request, "metrics-other")
    before = scrape(svc)
    base = svc.httpd.base
    # a segment an entity does not have: Graph's 400, before any operation
    assert requests.get(f"{base}/v1.0/deviceManagement/remoteAssistancePartners/a/b",
                        timeout=10).status_code == 400
    assert requests.put(svc.url(), timeout=10).status_code == 405
    after = wait_for(svc, lambda f: value(f, "remoteassist_requests_total", operation="other")
                     - value(before, "remoteassist_requests_total", operation="other") >= 2)
    assert value(after, "remoteassist_requests_total", operation="other",
                 **{"class": "4xx"}) - value(before, "remoteassist_requests_total",
                                             operation="other", **{"class": "4xx"}) == 2
    # the metrics and health requests themselves are not the API's
    assert sum(v for _, _, v in after["remoteassist_requests_total"]["samples"]) == 2 + sum(
        v for _, _, v in before["remoteassist_requests_total"]["samples"])


def test_metrics_handler_takes_get_and_head_only(private_service, request):
    svc = start(private_service, "sqlite", request, "metrics-methods")
    assert requests.post(svc.httpd.base + "/metrics", timeout=10).status_code == 405
    head = requests.head(svc.httpd.base + "/metrics", timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) > 1000


def test_metrics_off(private_service, request):
    svc = start(private_service, "sqlite", request, "metrics-off",
                extra="RemoteAssistMetrics Off\n" + STATUS)
    resp = requests.get(svc.httpd.base + "/metrics", timeout=10)
    assert resp.status_code == 404 and "Off" in resp.text
    assert svc.post(SEED_V1).status_code == 201
    status = requests.get(svc.httpd.base + "/server-status?auto", timeout=10)
    assert status.status_code == 200 and "RemoteAssist" not in status.text
    assert health(svc)[0] == 200


def test_metrics_directive_is_refused_in_a_virtual_host(workroot, keys):
    from httpd_harness import Httpd, sqlite_db
    workdir = workroot.mktemp("metrics-vhost")
    httpd = Httpd(workdir, sqlite_db(workdir), f'RemoteAssistTokenKey "{keys.path("jwks.json")}"',
                  extra_config="<VirtualHost 127.0.0.1:1>\n    RemoteAssistMetrics Off\n"
                               "</VirtualHost>\n")
    rc, out = httpd.configtest()
    assert rc != 0 and "RemoteAssistMetrics" in out and "VirtualHost" in out, out


# ------------------------------------------------------------ mod_status

@pytest.mark.parametrize("backend", ["sqlite", "pgsql"])
def test_server_status_shows_the_module(private_service, request, backend):
    svc = start(private_service, backend, request, "status", extra=STATUS)
    assert svc.post(SEED_V1).status_code == 201
    deadline = time.time() + 10
    while True:
        auto = requests.get(svc.httpd.base + "/server-status?auto", timeout=10)
        assert auto.status_code == 200
        lines = dict(line.split(": ", 1) for line in auto.text.splitlines() if ": " in line)
        if int(lines.get("RemoteAssistRequests_create_2xx", 0)) >= 1 or time.time() > deadline:
            break
        time.sleep(0.05)
    assert int(lines["RemoteAssistRequests_create_2xx"]) == 1
    assert int(lines["RemoteAssistRequests"]) >= 1
    assert "RemoteAssistDatabaseSeconds_create_count" in lines
    assert "RemoteAssistTokenCacheMisses" in lines
    assert "<" not in auto.text
    html = requests.get(svc.httpd.base + "/server-status", timeout=10)
    assert "<h2>mod_remoteassist</h2>" in html.text
    assert "<tr><td>create</td><td>1</td>" in html.text


def test_without_mod_status_everything_works(private_service, request):
    svc = start(private_service, "sqlite", request, "no-status")
    assert requests.get(svc.httpd.base + "/server-status", timeout=10).status_code == 404
    assert svc.post(SEED_V1).status_code == 201
    assert health(svc)[0] == 200
    scrape(svc)


# ---------------------------------------------------------------- health

@pytest.mark.parametrize("backend", ["sqlite", "pgsql"])
def test_health_ok(private_service, request, backend):
    svc = start(private_service, backend, request, "health")
    status, body, resp = health(svc)
    assert status == 200, body
    assert body == {"status": "ok", "configuration": "ok", "database": "ok", "keys": "ok",
                    "version": body["version"]}
    assert "Retry-After" not in resp.headers
    assert requests.post(svc.httpd.base + "/health", timeout=10).status_code == 405
    assert requests.head(svc.httpd.base + "/health", timeout=10).status_code == 200


# the stopped cluster: mod_dbd's failed checks and connections (AH00639,
# AH00629, AH02655; a child that starts meanwhile: AH00633, AH00636), the
# module's 503 (RA00040, RA00041, RA00030)
@pytest.mark.expect_log("AH00639", "AH00629", "AH02655", "AH00633", "AH00636", "RA00040",
                        "RA00041", "RA00030")
def test_health_503_while_postgresql_is_down(private_service, own_pg):
    svc = private_service("health-pg-down", pg=own_pg, extra_config=OBSERVE)
    assert health(svc)[0] == 200
    own_pg.stop()
    try:
        status, body, resp = health(svc)
        assert status == 503, body
        assert body["status"] == "unavailable" and body["database"] != "ok"
        assert body["keys"] == "ok"
        assert int(resp.headers["Retry-After"]) > 0
    finally:
        own_pg.start()
    deadline = time.time() + 20
    while health(svc)[0] != 200:
        assert time.time() < deadline, "health did not recover with PostgreSQL"
        time.sleep(0.2)


@pytest.mark.expect_log("RA00052")
def test_health_503_without_keys(private_service, workroot):
    nowhere = f"http://127.0.0.1:{free_port()}/keys"
    locations = location_block(f"/v1.0{COLLECTION}", "v1.0",
                               f'RemoteAssistTokenJwksUri "{nowhere}"',
                               "    RemoteAssistTokenAllowHttp On\n")
    cache = os.path.join(workroot.mktemp("health-keys-cache"), "keys")
    svc = private_service("health-keys", locations=locations,
                          extra_config=OBSERVE + f'RemoteAssistTokenKeysCache "{cache}"\n')
    status, body, resp = health(svc)
    assert status == 503, body
    assert body == {"status": "unavailable", "configuration": "ok", "database": "ok",
                    "keys": "not loaded", "version": body["version"]}
    assert "Retry-After" in resp.headers
    assert "127.0.0.1" not in resp.text  # the source's URL stays in the error log


# a section whose path is not the entity set (RA00010), refused at a real
# start: it answers 503 and the rest of the site serves (RA00064)
@pytest.mark.expect_log("RA00010", "RA00064")
def test_health_503_when_a_section_was_refused(private_service, keys):
    locations = standard_locations(keys) + location_block(
        "/wrong", "v1.0", f'RemoteAssistTokenKey "{keys.path("jwks.json")}"')
    svc = private_service("health-refused", locations=locations, extra_config=OBSERVE)
    status, body, resp = health(svc)
    assert status == 503, body
    assert body["status"] == "unavailable" and body["configuration"] != "ok"
    assert body["database"] == "ok" and body["keys"] == "ok"
    assert svc.post(SEED_V1).status_code == 201  # the other sections serve


def test_health_file_keys_are_loaded(private_service, keys):
    """Key files are read with the configuration: loaded by definition."""
    locations = standard_locations(keys)
    svc = private_service("health-files", locations=locations, extra_config=OBSERVE)
    assert health(svc)[1]["keys"] == "ok"


# --------------------------------------------------------- graceful restart

def graceful_and_wait(svc):
    generations = svc.log().count("resuming normal operations")
    svc.httpd.graceful()
    deadline = time.time() + 20
    while svc.log().count("resuming normal operations") == generations:
        assert time.time() < deadline, "no graceful restart"
        time.sleep(0.05)


@pytest.mark.parametrize("backend", ["sqlite", "pgsql"])
def test_counters_survive_a_graceful_restart(private_service, request, backend):
    svc = start(private_service, backend, request, "metrics-restart")
    assert svc.post(SEED_V1).status_code == 201
    before = wait_for(svc, lambda f: value(f, "remoteassist_requests_total",
                                           operation="create") >= 1)
    created = value(before, "remoteassist_requests_total", operation="create")
    graceful_and_wait(svc)
    svc.session.close()  # keep-alive connections belong to the old generation
    assert value(scrape(svc), "remoteassist_requests_total", operation="create") == created
    assert svc.post(SEED_V1).status_code == 201
    after = wait_for(svc, lambda f: value(f, "remoteassist_requests_total",
                                          operation="create") > created)
    assert value(after, "remoteassist_requests_total", operation="create") == created + 1


def test_health_503_once_the_server_is_stopping(private_service):
    """A load balancer drains before a graceful stop: a health request that
    a child reads while httpd stops (its headers were half sent before the
    stop began) answers 503 "stopping"."""
    svc = start(private_service, "sqlite", None, "health-stopping")
    assert health(svc)[0] == 200
    with socket.create_connection(("127.0.0.1", svc.httpd.port), timeout=20) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.3)  # a worker is reading the headers now
        os.kill(svc.httpd.proc.pid, signal.SIGWINCH)  # apachectl graceful-stop
        time.sleep(0.5)
        conn.sendall(b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), answer
    assert b"Retry-After:" in head
    assert json.loads(body) == {"status": "stopping", "version": json.loads(body)["version"]}
