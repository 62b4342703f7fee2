"""Throttling (issue 17, part 1) against a real httpd on SQLite: a burst over
a limit gets exactly the expected 2xx and 429s (Graph's TooManyRequests,
Retry-After in whole seconds, nothing stored); Retry-After is honoured;
one tenant at its limit does not refuse another; an application's budget
within its tenant's; forged tokens never charge the tenant they name, and a
flood of them stops being verified once the address's failed-authentication
budget is spent; the buckets survive a graceful restart; a full table
evicts the idlest entry; RemoteAssistThrottle Off; the directives' refusals.

Each test has a server of its own (private_service), so no other test's
requests share its buckets or its address budget. Limits are chosen so
that refill during a test cannot change a count: a window of an hour for
counts, seconds only where the test waits for a token to come back."""
import concurrent.futures
import json
import re
import time
import uuid

import pytest
import requests

from conftest import SEED_V1, assert_graph_error

METRICS = """
<Location "/metrics">
    SetHandler remoteassist-metrics
</Location>
"""
HOUR = 3600


def limits(*lines):
    return "\n".join(lines) + METRICS


def start(private_service, name, *lines):
    return private_service(name, extra_config=limits(*lines))


def get_list(svc, token):
    return svc.post(method="GET", token=token)


def create(svc, token):
    return svc.post(SEED_V1, token=token)


def metric(svc, name):
    text = requests.get(svc.httpd.base + "/metrics", timeout=10).text
    found = re.findall(rf"^{name} (\S+)$", text, re.M)
    assert found, f"no {name} in the metrics"
    return float(found[0])


def wait_metric(svc, name, expected):
    """Metrics count at log_transaction, just after the answer is sent."""
    deadline = time.time() + 5
    while metric(svc, name) != expected and time.time() < deadline:
        time.sleep(0.05)
    assert metric(svc, name) == expected


def assert_throttled(resp, most_seconds):
    err = assert_graph_error(resp, 429, "TooManyRequests")
    retry_after = resp.headers["Retry-After"]
    assert re.fullmatch(r"[1-9][0-9]*", retry_after), retry_after
    assert 1 <= int(retry_after) <= most_seconds, retry_after
    assert f"retry after {retry_after} second" in err["message"], err
    return int(retry_after)


# request, the limit line, how many, expected 2xx
BURSTS = [
    pytest.param(get_list, f"app read 10 {HOUR}", 15, 10, id="app-reads"),
    pytest.param(create, f"app write 4 {HOUR}", 9, 4, id="app-writes"),
    pytest.param(get_list, f"tenant read 7 {HOUR}", 12, 7, id="tenant-reads"),
    pytest.param(create, f"tenant all 3 {HOUR}", 5, 3, id="tenant-writes"),
]


@pytest.mark.parametrize("send, limit, burst, ok", BURSTS)
def test_burst_gets_exactly_the_limit(private_service, keys, send, limit, burst, ok):
    svc = start(private_service, "throttle-burst", f"RemoteAssistThrottleLimit {limit}")
    token = keys.token(appid=str(uuid.uuid4()))
    rows = svc.backend.count()
    statuses = [send(svc, token) for _ in range(burst)]
    assert [r.status_code < 300 for r in statuses] == [True] * ok + [False] * (burst - ok)
    for resp in statuses[ok:]:
        # a token every HOUR / limit seconds
        assert_throttled(resp, -(-HOUR // int(limit.split()[2])))
    # the refused creates reached no database: nothing stored
    assert svc.backend.count() == rows + (ok if send is create else 0)
    wait_metric(svc, "remoteassist_throttled_total", burst - ok)


def test_reads_and_writes_have_budgets_of_their_own(private_service, keys):
    svc = start(private_service, "throttle-apart", f"RemoteAssistThrottleLimit app all 2 {HOUR}")
    token = keys.token(appid="app-1")
    assert [create(svc, token).status_code for _ in range(3)] == [201, 201, 429]
    assert [get_list(svc, token).status_code for _ in range(3)] == [200, 200, 429]


def test_retry_after_is_honoured(private_service, keys):
    """2 per 2 s: a token a second, so the refusal says 1 and is true to it."""
    svc = start(private_service, "throttle-retry", "RemoteAssistThrottleLimit app read 2 2")
    token = keys.token(appid="app-1")
    assert [get_list(svc, token).status_code for _ in range(2)] == [200, 200]
    refused = get_list(svc, token)
    wait = assert_throttled(refused, 1)
    time.sleep(wait)
    assert get_list(svc, token).status_code == 200


def test_app_budget_within_the_tenants(private_service, keys):
    svc = start(private_service, "throttle-apps",
                f"RemoteAssistThrottleLimit app read 5 {HOUR}",
                f"RemoteAssistThrottleLimit tenant read 8 {HOUR}")
    tenant = str(uuid.uuid4())
    counts = {}
    for app in ("app-a", "app-b", "app-c"):
        token = keys.token(tid=tenant, appid=app)
        counts[app] = sum(get_list(svc, token).status_code == 200 for _ in range(7))
    # a stops at its own 5; b gets the tenant's last 3; c nothing
    assert counts == {"app-a": 5, "app-b": 3, "app-c": 0}
    # v2 tokens name the application in azp
    other = str(uuid.uuid4())
    token = keys.token(tid=other, azp="app-v2")
    assert sum(get_list(svc, token).status_code == 200 for _ in range(7)) == 5


def test_one_tenant_at_its_limit_does_not_refuse_another(private_service, keys):
    """The noisy tenant floods from 6 threads while the quiet one sends its
    requests: the noisy one gets exactly its limit, the quiet one every
    request."""
    svc = start(private_service, "throttle-tenants",
                f"RemoteAssistThrottleLimit tenant all 40 {HOUR}")
    noisy = keys.token(tid=str(uuid.uuid4()), appid="bulk-script")
    quiet = keys.token(tid=str(uuid.uuid4()), appid="bulk-script")

    def flood(n):
        with requests.Session() as s:
            return [s.get(svc.url(), headers={"Authorization": f"Bearer {noisy}"},
                          timeout=30).status_code for _ in range(n)]

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        floods = [pool.submit(flood, 20) for _ in range(6)]
        quiet_statuses = [get_list(svc, quiet).status_code for _ in range(30)]
        noisy_statuses = [s for f in floods for s in f.result()]
    assert quiet_statuses == [200] * 30
    assert noisy_statuses.count(200) == 40
    assert noisy_statuses.count(429) == 80


def test_forged_tokens_never_charge_the_tenant_they_name(private_service, keys):
    """Tokens signed by a key the server does not trust, naming a victim's
    tid: 401 each, and the victim keeps its whole budget. Past the address's
    failed-authentication budget the forgeries get 429 without a signature
    check (the refusals counted as verified stay at the budget), and so does
    every request from that address until a token is back."""
    svc = start(private_service, "throttle-forged",
                f"RemoteAssistThrottleLimit tenant all 3 {HOUR}",
                f"RemoteAssistThrottleFailedAuth 5 {HOUR}")
    victim = str(uuid.uuid4())
    forged = keys.token(key=keys.rsa_other, tid=victim)
    statuses = [get_list(svc, forged).status_code for _ in range(12)]
    assert statuses == [401] * 5 + [429] * 7
    wait_metric(svc, "remoteassist_throttled_total", 7)
    text = requests.get(svc.httpd.base + "/metrics", timeout=10).text
    verified = sum(float(v) for v in re.findall(
        r'^remoteassist_auth_refusals_total\{[^}]*status="401"[^}]*\} (\S+)$', text, re.M))
    assert verified == 5
    # the address is refused whatever it sends now: it must wait
    assert_throttled(get_list(svc, keys.token(tid=victim)), HOUR // 5)


def test_forged_tokens_leave_the_victims_budget_whole(private_service, keys):
    svc = start(private_service, "throttle-victim",
                f"RemoteAssistThrottleLimit tenant all 3 {HOUR}")
    victim = str(uuid.uuid4())
    forged = keys.token(key=keys.rsa_other, tid=victim)
    assert [get_list(svc, forged).status_code for _ in range(10)] == [401] * 10
    real = keys.token(tid=victim)
    assert [get_list(svc, real).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_graceful_restart_keeps_the_buckets(private_service, keys):
    """The table lives in the process pool: a reload keeps a throttled
    tenant throttled. A new RemoteAssistThrottleTable size starts afresh."""
    svc = start(private_service, "throttle-restart", f"RemoteAssistThrottleLimit app all 2 {HOUR}")
    token = keys.token(appid="app-1")
    assert [get_list(svc, token).status_code for _ in range(3)] == [200, 200, 429]
    graceful(svc)
    assert get_list(svc, token).status_code == 429
    svc.httpd.extra_config += "\nRemoteAssistThrottleTable 500\n"
    svc.httpd.write_config()
    graceful(svc)
    assert [get_list(svc, token).status_code for _ in range(3)] == [200, 200, 429]


def graceful(svc):
    generations = svc.log().count("resuming normal operations")
    svc.httpd.graceful()
    deadline = time.time() + 20
    while svc.log().count("resuming normal operations") == generations:
        assert time.time() < deadline, "no graceful restart"
        time.sleep(0.05)
    svc.session.close()  # keep-alive connections belong to the old generation


def test_full_table_evicts_the_idlest(private_service, keys):
    """16 entries, one token an hour per tenant (no application claim: one
    entry each). 16 tenants spend theirs; 16 more are still served (never
    everyone refused), each evicting the idlest; the first tenant comes back
    to a full bucket, while the tenant used last is still throttled."""
    svc = start(private_service, "throttle-full", "RemoteAssistThrottleTable 16",
                f"RemoteAssistThrottleLimit tenant all 1 {HOUR}")
    tenants = [keys.token(tid=str(uuid.uuid4()), appid=None) for _ in range(32)]
    for token in tenants[:16]:
        assert [get_list(svc, token).status_code for _ in range(2)] == [200, 429]
    for token in tenants[16:]:
        assert get_list(svc, token).status_code == 200
    assert get_list(svc, tenants[31]).status_code == 429
    assert get_list(svc, tenants[0]).status_code == 200


def test_off_never_throttles(private_service, keys):
    svc = start(private_service, "throttle-off", "RemoteAssistThrottle Off",
                "RemoteAssistThrottleLimit tenant all 1 3600",
                "RemoteAssistThrottleFailedAuth 1 3600")
    forged = keys.token(key=keys.rsa_other)
    assert [get_list(svc, forged).status_code for _ in range(3)] == [401] * 3
    token = keys.token()
    assert [get_list(svc, token).status_code for _ in range(5)] == [200] * 5
    assert metric(svc, "remoteassist_throttled_total") == 0


@pytest.mark.parametrize("line, complaint", [
    ("RemoteAssistThrottleLimit tenant read 10", "takes tenant|app"),
    ("RemoteAssistThrottleLimit user read 10 20", "tenant or app"),
    ("RemoteAssistThrottleLimit app update 10 20", "read, write or all"),
    ("RemoteAssistThrottleLimit app read -1 20", "REQUESTS must be a number"),
    ("RemoteAssistThrottleLimit app read 10 0", "SECONDS must be a number"),
    ("RemoteAssistThrottleFailedAuth 10 x", "SECONDS must be a number"),
    ("RemoteAssistThrottleTable 15", "ENTRIES must be a number from 16"),
    ("RemoteAssistThrottle Maybe", "RemoteAssistThrottle"),
    ("<VirtualHost *:80>\nRemoteAssistThrottleTable 100\n</VirtualHost>", "cannot occur"),
])
def test_directives_refuse_nonsense(workroot, keys, line, complaint):
    from conftest import Httpd, sqlite_db
    workdir = workroot.mktemp("throttle-config")
    httpd = Httpd(workdir, sqlite_db(workdir), f'RemoteAssistTokenKey "{keys.path("jwks.json")}"',
                  extra_config=line)
    rc, out = httpd.configtest()
    assert rc != 0 and complaint in out, out


def test_inner_batch_requests_are_charged_one_by_one(private_service, keys):
    """Each inner request of a $batch is charged on its own (the envelope is
    a read): past the write budget the batch still answers 200, and each
    refused inner request carries its own 429 and Retry-After, having stored
    nothing, as Graph answers."""
    svc = start(private_service, "throttle-batch", f"RemoteAssistThrottleLimit app write 3 {HOUR}")
    token = keys.token(appid=str(uuid.uuid4()))
    ids = [f"thr-{uuid.uuid4().hex[:12]}" for _ in range(5)]
    body = {"requests": [{"id": str(n), "method": "POST",
                          "url": "/deviceManagement/remoteAssistancePartners",
                          "headers": {"Content-Type": "application/json"},
                          "body": dict(SEED_V1, id=pid)} for n, pid in enumerate(ids)]}
    rows = svc.backend.count()
    resp = svc.post(url=f"{svc.httpd.base}/v1.0/$batch", data=json.dumps(body), token=token)
    assert resp.status_code == 200, resp.text
    answers = {r["id"]: r for r in resp.json()["responses"]}
    statuses = [answers[str(n)]["status"] for n in range(len(ids))]
    assert statuses == [201, 201, 201, 429, 429], statuses
    for n in (3, 4):
        inner = answers[str(n)]
        retry_after = {k.lower(): v for k, v in inner["headers"].items()}["retry-after"]
        assert re.fullmatch(r"[1-9][0-9]*", retry_after), inner
        assert inner["body"]["error"]["code"] == "TooManyRequests", inner
    assert svc.backend.count() == rows + 3
    wait_metric(svc, "remoteassist_throttled_total", 2)
