"""The module behind real TLS fronts, configured as docs/deploy.md's "Behind a
reverse proxy" shows: Apache httpd (mod_ssl + mod_proxy_http) and nginx,
each terminating TLS with a generated certificate on a free 127.0.0.1 port.
The backend trusts 127.0.0.1 (RemoteAssistTrustedProxy), so Location,
@odata.context and @odata.nextLink carry the front's public https URL, and
the official Graph JavaScript client works through each front. The same
fronts without the forwarded headers show the pitfall they avoid."""
import json
import os
import subprocess
import uuid

import pytest
import requests

from conftest import COLLECTION, SEED_BETA, SEED_V1, Backend, make_service, sqlite_db
from devcert import self_signed
from fronts import ApacheFront, NginxFront
from test_graph_js_client import CYCLE_SCRIPT, GRAPH_JS, NODE_TIMEOUT, SCRIPT, _ensure_client, \
    _require

ENTITY_CONTEXT = "/$metadata#deviceManagement/remoteAssistancePartners/$entity"


def apache(workdir, backend_port, tls, forwarded=True):
    front = ApacheFront(workdir, [backend_port], tls=tls)
    if not forwarded:  # as mod_proxy leaves it: X-Forwarded-Host, no scheme
        front.render = lambda render=front.render: render().replace(
            "RequestHeader set X-Forwarded-Proto", "# RequestHeader set X-Forwarded-Proto")
    return front


def nginx(workdir, backend_port, tls, forwarded=True):
    return NginxFront(workdir, backend_port, tls=tls,
                      **({} if forwarded else {"headers": ""}))


FRONTS = {"apache": apache, "nginx": nginx}


@pytest.fixture(scope="module")
def backend(workroot, keys):
    """The module with v1.0 and beta, believing forwarded headers from 127.0.0.1."""
    workdir = workroot.mktemp("fronted")
    svc = make_service(workdir, keys, Backend("sqlite", sqlite_db(workdir)),
                       extra_config="RemoteAssistTrustedProxy 127.0.0.1")
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def tls(workroot):
    return self_signed(workroot.mktemp("front-tls"), "front")


@pytest.fixture(scope="module", params=sorted(FRONTS))
def front(request, backend, tls, workroot):
    started = FRONTS[request.param](workroot.mktemp(f"front-{request.param}"),
                                    backend.httpd.port, tls).start()
    yield started
    started.stop()


def post(front, tls, keys, version, seed):
    resp = requests.post(f"{front.base}/{version}{COLLECTION}", json=seed, verify=tls[0],
                         headers={"Authorization": f"Bearer {keys.token()}"}, timeout=30)
    assert resp.status_code == 201, resp.text
    return resp


@pytest.mark.parametrize("version,seed", [("v1.0", SEED_V1), ("beta", SEED_BETA)])
def test_created_partner_carries_the_public_url(front, tls, keys, version, seed):
    resp = post(front, tls, keys, version, seed)
    root = f"{front.base}/{version}"
    assert resp.headers["Location"] == f"{root}{COLLECTION}('{resp.json()['id']}')"
    assert resp.json()["@odata.context"] == root + ENTITY_CONTEXT
    # and the Location the client got leads back to the partner
    got = requests.get(resp.headers["Location"], verify=tls[0], timeout=30,
                       headers={"Authorization": f"Bearer {keys.token()}"})
    assert got.status_code == 200 and got.json()["id"] == resp.json()["id"], got.text


@pytest.mark.parametrize("version,seed", [("v1.0", SEED_V1), ("beta", SEED_BETA)])
def test_next_link_is_public_and_followable(front, tls, keys, version, seed):
    for _ in range(2):
        post(front, tls, keys, version, seed)
    headers = {"Authorization": f"Bearer {keys.token()}"}
    first = requests.get(f"{front.base}/{version}{COLLECTION}", params={"$top": "1"},
                         headers=headers, verify=tls[0], timeout=30).json()
    link = first["@odata.nextLink"]
    assert link.startswith(f"{front.base}/{version}{COLLECTION}?"), link
    second = requests.get(link, headers=headers, verify=tls[0], timeout=30)
    assert second.status_code == 200, second.text
    assert second.json()["value"][0]["id"] != first["value"][0]["id"]


def run_node(script, front, tls, keys, version, **env):
    p = subprocess.run([_require("node"), script], cwd=GRAPH_JS, capture_output=True, text=True,
                       timeout=NODE_TIMEOUT,
                       env=dict(os.environ, GRAPH_BASE_URL=front.base, GRAPH_VERSION=version,
                                GRAPH_TOKEN=keys.token(), NODE_EXTRA_CA_CERTS=tls[0], **env))
    assert p.returncode == 0, f"{script} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout)


def test_graph_js_client_creates_through_the_front(front, tls, keys, backend):
    _ensure_client()
    out = run_node(SCRIPT, front, tls, keys, "beta", GRAPH_BODY=json.dumps(SEED_BETA))
    assert out["@odata.context"] == f"{front.base}/beta{ENTITY_CONTEXT}", out
    assert backend.backend.row(out["id"])["apiVersion"] == "beta"


def test_graph_js_client_runs_the_whole_cycle_through_the_front(front, tls, keys):
    _ensure_client()
    prefix = f"front cycle {uuid.uuid4().hex[:8]}"
    out = run_node(CYCLE_SCRIPT, front, tls, keys, "v1.0", GRAPH_PREFIX=prefix)
    assert out["firstPage"]["@odata.nextLink"].startswith(f"{front.base}/v1.0/")
    assert [p["displayName"] for p in out["walked"]] == [f"{prefix} {n}" for n in (5, 4, 3, 2, 1)]
    assert out["afterDelete"]["graphError"]["statusCode"] == 404


@pytest.mark.parametrize("name,wrong", [
    # mod_proxy sends X-Forwarded-Host but no scheme: https became http
    ("apache", "http://127.0.0.1:{front}"),
    # nginx sends neither: the backend's own URL (nginx rewrites only Location)
    ("nginx", "http://127.0.0.1:{backend}"),
])
def test_without_the_forwarded_headers_the_context_is_wrong(name, wrong, backend, tls, keys,
                                                            workroot):
    with FRONTS[name](workroot.mktemp(f"front-{name}-bare"), backend.httpd.port, tls,
                      forwarded=False) as front:
        resp = post(front, tls, keys, "v1.0", SEED_V1)
    wrong = wrong.format(front=front.port, backend=backend.httpd.port)
    assert resp.json()["@odata.context"] == f"{wrong}/v1.0{ENTITY_CONTEXT}"
