"""The official Microsoft Graph JavaScript client, unmodified: the create
(create.mjs) and the whole cycle of the resource (cycle.mjs).

tests/graph-js/create.mjs runs @microsoft/microsoft-graph-client (the exact
version pinned in tests/graph-js/package.json and package-lock.json) under
node with Client.init, baseUrl pointed at the test server and customHosts
naming it, and calls client.api('/deviceManagement/remoteAssistancePartners')
.post(body) -- no change to the client, its middleware or its headers.

The client only attaches the bearer token (AuthenticationHandler) and its
client-request-id/SdkVersion headers (TelemetryHandler) to https:// URLs
whose host is a Graph host or in customHosts; the harness serves plain http.
So the client talks TLS to a byte-for-byte relay in this file, which
terminates TLS with a throwaway certificate (trusted by node through
NODE_EXTRA_CA_CERTS) and forwards to the sqlite_service httpd unchanged.
The relay also records the bytes the client sent, so the test can see the
client-request-id the client generated. test_plain_http_base_url_sends_no_token
pins the http behaviour down.

node and npm are required: without them these tests fail, they never skip.
"""
import asyncio
import json
import os
import shutil
import ssl
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import (COLLECTION, ROOT, SEED_BETA, SEED_V1, Backend, location_block,
                      make_service, sqlite_db)
from devcert import self_signed

GRAPH_JS = os.path.join(ROOT, "tests", "graph-js")
SCRIPT = os.path.join(GRAPH_JS, "create.mjs")
CLIENT_PACKAGE = "@microsoft/microsoft-graph-client"
NPM_CI_TIMEOUT = 300
NODE_TIMEOUT = 60
ENTITY_CONTEXT = "$metadata#deviceManagement/remoteAssistancePartners/$entity"
ODATA_TYPE = "#microsoft.graph.remoteAssistancePartner"


def _require(tool):
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not on PATH: the Graph JavaScript client tests need node "
                    f"(20+) and npm to run {SCRIPT}", pytrace=False)
    return path


def _pinned_version():
    with open(os.path.join(GRAPH_JS, "package.json")) as f:
        return json.load(f)["dependencies"][CLIENT_PACKAGE]


def _installed_version():
    path = os.path.join(GRAPH_JS, "node_modules", *CLIENT_PACKAGE.split("/"), "package.json")
    try:
        with open(path) as f:
            return json.load(f)["version"]
    except FileNotFoundError:
        return None


def _ensure_client():
    """npm ci from the committed lock file when node_modules is missing."""
    _require("node")
    if not os.path.isdir(os.path.join(GRAPH_JS, "node_modules")):
        npm = _require("npm")
        try:
            p = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=GRAPH_JS,
                               capture_output=True, text=True, timeout=NPM_CI_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"npm ci in {GRAPH_JS} took over {NPM_CI_TIMEOUT}s", pytrace=False)
        if p.returncode != 0:
            pytest.fail(f"npm ci in {GRAPH_JS} failed ({p.returncode}):\n"
                        f"{p.stdout}\n{p.stderr}", pytrace=False)
    pinned, installed = _pinned_version(), _installed_version()
    if installed != pinned:
        pytest.fail(f"{CLIENT_PACKAGE} {installed} is installed in {GRAPH_JS}/node_modules "
                    f"but package.json pins {pinned}: remove node_modules and rerun",
                    pytrace=False)
    return installed


class TlsRelay:
    """https://127.0.0.1:port -> http://127.0.0.1:backend_port, bytes unchanged,
    on an asyncio loop in a thread. Records what clients sent."""

    def __init__(self, backend_port, cert_path, key_path):
        self.backend_port = backend_port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert_path, key_path)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self.sent = []          # one bytearray per client connection
        self.server = None
        self.port = None
        self.error = None

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.server = self.loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ctx))
            self.port = self.server.sockets[0].getsockname()[1]
        except Exception as e:  # reported by start()
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.server.close()
        self.loop.run_until_complete(self.server.wait_closed())
        self.loop.close()

    async def _handle(self, client_r, client_w):
        record = bytearray()
        with self.lock:
            self.sent.append(record)
        try:
            backend_r, backend_w = await asyncio.open_connection("127.0.0.1", self.backend_port)
        except OSError:
            client_w.close()
            return

        async def pump(reader, writer, log=None):
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    if log is not None:
                        with self.lock:
                            log.extend(data)
                    writer.write(data)
                    await writer.drain()
            except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        await asyncio.gather(pump(client_r, backend_w, record), pump(backend_r, client_w),
                             return_exceptions=True)

    def start(self):
        self.thread.start()
        if not self.ready.wait(10) or self.error:
            raise RuntimeError(f"TLS relay did not start: {self.error}")
        return self

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def base(self):
        return f"https://127.0.0.1:{self.port}"

    def clear(self):
        with self.lock:
            self.sent.clear()

    def requests_sent(self):
        """(request line, {lowercased header name: value}) for each request seen."""
        with self.lock:
            streams = [bytes(s) for s in self.sent]
        out = []
        for data in streams:
            while data:
                head, sep, rest = data.partition(b"\r\n\r\n")
                if not sep:
                    break
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                out.append((lines[0], headers))
                data = rest[int(headers.get("content-length", "0")):]
        return out


class GraphJs:
    """Runs create.mjs against a base URL; returns (exit code, JSON output)."""

    def __init__(self, relay, cert_path, version):
        self.relay, self.cert_path, self.version = relay, cert_path, version

    def run(self, body, token, api_version="v1.0", base=None, raw=False):
        env = dict(os.environ,
                   GRAPH_BASE_URL=base or self.relay.base,
                   GRAPH_VERSION=api_version,
                   GRAPH_TOKEN=token,
                   GRAPH_BODY=json.dumps(body),
                   NODE_EXTRA_CA_CERTS=self.cert_path)
        env.pop("GRAPH_RESPONSE", None)
        if raw:
            env["GRAPH_RESPONSE"] = "raw"
        self.relay.clear()
        p = subprocess.run([_require("node"), SCRIPT], cwd=GRAPH_JS, env=env,
                           capture_output=True, text=True, timeout=NODE_TIMEOUT)
        assert p.returncode in (0, 3), (f"create.mjs exited {p.returncode}\n"
                                        f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p.returncode, json.loads(p.stdout)

    def create(self, body, token, **kw):
        rc, out = self.run(body, token, **kw)
        assert rc == 0, out
        return out

    def graph_error(self, body, token, **kw):
        rc, out = self.run(body, token, **kw)
        assert rc == 3, out
        return out["graphError"]


@pytest.fixture(scope="module")
def graph_js(sqlite_service, workroot):
    version = _ensure_client()
    cert_path, key_path = self_signed(workroot.mktemp("graph-js-tls"), "relay")
    relay = TlsRelay(sqlite_service.httpd.port, cert_path, key_path).start()
    yield GraphJs(relay, cert_path, version)
    relay.stop()


def expired_token(keys):
    now = int(time.time())
    return keys.token(iat=now - 7200, nbf=now - 7200, exp=now - 3600)


def assert_created(service, out, seed, version):
    assert out["@odata.context"].endswith(f"/{version}/{ENTITY_CONTEXT}"), out
    assert out["@odata.type"] == ODATA_TYPE, out
    assert str(uuid.UUID(out["id"])) == out["id"].lower(), out
    for name, value in seed.items():
        if name != "@odata.type":
            assert out[name] == value, (name, out)
    row = service.backend.row(out["id"])
    assert row is not None, f"{out['id']} is not in the database"
    assert row["displayName"] == seed["displayName"]
    assert row["onboardingUrl"] == seed["onboardingUrl"]
    assert row["onboardingStatus"] == seed["onboardingStatus"]
    return row


def test_client_version_is_the_pinned_one(graph_js):
    assert graph_js.version == _pinned_version()
    assert "^" not in graph_js.version and "~" not in graph_js.version


def test_v1_seed_is_created(graph_js, sqlite_service, keys):
    out = graph_js.create(SEED_V1, keys.token())
    assert_created(sqlite_service, out, SEED_V1, "v1.0")
    assert "onboardingRequestExpiryDateTime" not in out
    (line, headers), = graph_js.relay.requests_sent()
    assert line == "POST /v1.0/deviceManagement/remoteAssistancePartners HTTP/1.1"
    assert headers["authorization"].startswith("Bearer ")
    assert headers["sdkversion"].startswith(f"graph-js/{graph_js.version}")


def test_beta_seed_is_created_on_beta(graph_js, sqlite_service, keys):
    out = graph_js.create(SEED_BETA, keys.token(), api_version="beta")
    assert_created(sqlite_service, out, SEED_BETA, "beta")
    assert out["onboardingRequestExpiryDateTime"] == SEED_BETA["onboardingRequestExpiryDateTime"]
    (line, _), = graph_js.relay.requests_sent()
    assert line == "POST /beta/deviceManagement/remoteAssistancePartners HTTP/1.1"


def assert_graph_error_seen(graph_js, err, status, code):
    assert err["statusCode"] == status, err
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"], err
    uuid.UUID(err["requestId"])
    assert err["headers"]["request-id"] == err["requestId"], err
    (_, sent), = graph_js.relay.requests_sent()
    assert err["headers"]["client-request-id"] == sent["client-request-id"], (err, sent)


def test_expired_token_is_a_401_graph_error(graph_js, sqlite_service, keys):
    with sqlite_service.nothing_stored():
        err = graph_js.graph_error(SEED_V1, expired_token(keys))
    assert_graph_error_seen(graph_js, err, 401, "InvalidAuthenticationToken")


def test_unknown_property_is_a_400_graph_error(graph_js, sqlite_service, keys):
    with sqlite_service.nothing_stored():
        err = graph_js.graph_error(dict(SEED_V1, notAProperty="x"), keys.token())
    assert_graph_error_seen(graph_js, err, 400, "BadRequest")


def test_client_request_id_is_echoed(graph_js, sqlite_service, keys):
    out = graph_js.create(SEED_V1, keys.token(), raw=True)
    assert out["status"] == 201, out
    assert_created(sqlite_service, out["body"], SEED_V1, "v1.0")
    (_, sent), = graph_js.relay.requests_sent()
    client_request_id = sent.get("client-request-id")
    assert client_request_id, f"the client sent no client-request-id: {sent}"
    assert out["headers"]["client-request-id"] == client_request_id, (out, sent)
    uuid.UUID(out["headers"]["request-id"])
    assert out["headers"]["request-id"] != client_request_id
    assert out["headers"]["location"].endswith(
        f"/v1.0/deviceManagement/remoteAssistancePartners('{out['body']['id']}')"), out


def test_plain_http_base_url_sends_no_token(graph_js, sqlite_service, keys):
    """Why the relay: on http:// the client drops the token even though
    customHosts names the host, and the module rightly answers 401."""
    with sqlite_service.nothing_stored():
        err = graph_js.graph_error(SEED_V1, keys.token(), base=sqlite_service.httpd.base)
    assert err["statusCode"] == 401, err
    assert err["code"] == "InvalidAuthenticationToken", err
    assert graph_js.relay.requests_sent() == []


CYCLE_SCRIPT = os.path.join(GRAPH_JS, "cycle.mjs")


@pytest.fixture(scope="module")
def cycle_service(graph_js, workroot, keys):
    """A service whose public root is the relay's https URL (as behind any
    TLS front), so @odata.nextLink is a URL the client sends its token to."""
    cert_path, key_path = self_signed(workroot.mktemp("graph-js-cycle-tls"), "relay")
    relay = TlsRelay(0, cert_path, key_path).start()
    jwks = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    workdir = workroot.mktemp("graph-js-cycle")
    svc = make_service(workdir, keys, Backend("sqlite", sqlite_db(workdir)),
                       locations=location_block(
                           f"/v1.0{COLLECTION}", "v1.0", jwks,
                           f"    RemoteAssistBaseURL {relay.base}/v1.0"))
    relay.backend_port = svc.httpd.port
    yield svc, relay, cert_path
    svc.httpd.stop()
    relay.stop()


def run_script(script, base, token, prefix, cert_path):
    """One of the client scripts against base (https, its host in
    customHosts), its stdout's JSON."""
    env = dict(os.environ, GRAPH_BASE_URL=base, GRAPH_VERSION="v1.0", GRAPH_TOKEN=token,
               GRAPH_PREFIX=prefix, NODE_EXTRA_CA_CERTS=cert_path)
    p = subprocess.run([_require("node"), script], cwd=GRAPH_JS, env=env,
                       capture_output=True, text=True, timeout=NODE_TIMEOUT)
    assert p.returncode == 0, f"{script} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout)


def check_cycle(out, base, prefix, stored_names):
    """What cycle.mjs saw against base; stored_names: the displayNames the
    database holds under prefix afterwards."""
    created = out["created"]
    first = created[0]
    assert out["got"] == first
    # the list, filtered, projected, ordered and walked page by page
    assert out["firstPage"]["@odata.context"].endswith(
        "$metadata#deviceManagement/remoteAssistancePartners(id,displayName)")
    assert len(out["firstPage"]["value"]) == 2
    assert out["firstPage"]["@odata.nextLink"].startswith(base + "/v1.0/")
    names = [p["displayName"] for p in out["walked"]]
    assert names == sorted((c["displayName"] for c in created), reverse=True)
    assert {k for p in out["walked"] for k in p if not k.startswith("@")} == {"id", "displayName"}
    # update, actions, delete
    assert out["updated"]["displayName"] == f"{prefix} renamed"
    assert out["updated"]["onboardingUrl"] == first["onboardingUrl"]
    assert out["updated"]["@odata.etag"] != first["@odata.etag"]
    assert out["afterBegin"]["onboardingStatus"] == "onboarding"
    assert out["afterDisconnect"]["onboardingStatus"] == "notOnboarded"
    assert out["afterDelete"]["graphError"]["statusCode"] == 404
    assert out["afterDelete"]["graphError"]["code"] == "ResourceNotFound"
    # the first (renamed, then deleted) is gone, the other four stay
    assert sorted(stored_names) == [f"{prefix} {n}" for n in range(2, 6)]


def stored_names(svc, prefix):
    return [r[1] for r in svc.backend.rows() if r[1] and r[1].startswith(prefix)]


def test_the_whole_cycle_through_the_graph_client(cycle_service, keys):
    svc, relay, cert_path = cycle_service
    prefix = f"JS cycle {uuid.uuid4().hex[:8]}"
    out = run_script(CYCLE_SCRIPT, relay.base, keys.token(), prefix, cert_path)
    check_cycle(out, relay.base, prefix, stored_names(svc, prefix))


AUDIT_SCRIPT = os.path.join(GRAPH_JS, "audit.mjs")


def test_audit_events_listed_and_paged_through_the_graph_client(cycle_service, keys):
    """A tenant's creates and a PATCH, then its audit events through the
    client: filtered, ordered newest first, two a page, walked to the end by
    the client's PageIterator over the $skiptoken nextLinks."""
    svc, relay, cert_path = cycle_service
    tenant = str(uuid.uuid4())
    scopes = "DeviceManagementServiceConfig.ReadWrite.All DeviceManagementApps.Read.All"
    base = f"{svc.httpd.base}/v1.0{COLLECTION}"
    created = []
    for n in range(5):
        resp = requests.post(base, json={"displayName": f"audited {n}"}, timeout=30,
                             headers={"Authorization": f"Bearer {keys.token(tid=tenant)}"})
        assert resp.status_code == 201, resp.text
        created.append(resp.json()["id"])
    resp = requests.patch(f"{base}/{created[0]}", json={"displayName": "patched"}, timeout=30,
                          headers={"Authorization": f"Bearer {keys.token(tid=tenant)}"})
    assert resp.status_code == 200
    env = dict(os.environ, GRAPH_BASE_URL=relay.base, GRAPH_VERSION="v1.0",
               GRAPH_TOKEN=keys.token(tid=tenant, scp=scopes), NODE_EXTRA_CA_CERTS=cert_path)
    p = subprocess.run([_require("node"), AUDIT_SCRIPT], cwd=GRAPH_JS, env=env,
                       capture_output=True, text=True, timeout=NODE_TIMEOUT)
    assert p.returncode == 0, f"audit.mjs exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    out = json.loads(p.stdout)
    first = out["firstPage"]
    assert first["@odata.count"] == 5
    assert len(first["value"]) == 2
    assert first["@odata.nextLink"].startswith(relay.base + "/v1.0/deviceManagement/auditEvents?")
    walked = out["walked"]
    assert [e["resources"][0]["resourceId"] for e in walked] == list(reversed(created))
    assert {e["activityType"] for e in walked} == {"Create RemoteAssistancePartner"}
    times = [e["activityDateTime"] for e in walked]
    assert times == sorted(times, reverse=True)
    assert out["one"]["id"] == walked[0]["id"]
    assert out["categories"]["value"] == ["RemoteAssistance"]


# ------------------------------------------------------------- throttling

@pytest.fixture(scope="module")
def throttled_js(workroot, keys):
    """A service whose creates are limited to one per 2 s per application,
    behind its own relay, and the client pointed at it."""
    version = _ensure_client()
    cert_path, key_path = self_signed(workroot.mktemp("graph-js-throttle-tls"), "relay")
    workdir = workroot.mktemp("graph-js-throttle")
    svc = make_service(workdir, keys, Backend("sqlite", sqlite_db(workdir)),
                       extra_config="RemoteAssistThrottleLimit app write 1 2")
    relay = TlsRelay(svc.httpd.port, cert_path, key_path).start()
    yield svc, GraphJs(relay, cert_path, version)
    svc.stop()
    relay.stop()


def test_the_clients_default_middleware_retries_a_429(throttled_js, keys):
    """The application's one write is spent by a plain request; the client's
    create gets 429 with Retry-After, its RetryHandler (in the default
    middleware chain, unconfigured) waits that long and sends it again,
    which succeeds: the caller sees only the 201's entity."""
    svc, graph_js = throttled_js
    token = keys.token(appid="js-app")
    assert svc.post(SEED_V1, token=token).status_code == 201
    rows = svc.backend.count()
    started = time.time()
    out = graph_js.create(SEED_V1, token)
    assert_created(svc, out, SEED_V1, "v1.0")
    assert svc.backend.count() == rows + 1  # the refused attempt stored nothing
    (first, first_headers), (again, again_headers) = graph_js.relay.requests_sent()
    assert first == again == "POST /v1.0/deviceManagement/remoteAssistancePartners HTTP/1.1"
    assert "retry-attempt" not in first_headers
    assert again_headers["retry-attempt"] == "1"
    assert time.time() - started >= 1  # it waited for the Retry-After
BATCH_SCRIPT = os.path.join(GRAPH_JS, "batch.mjs")


def check_batch(out, base, prefix, stored_names):
    """What batch.mjs sent and read back against base; stored_names: the
    displayNames the database holds under prefix afterwards."""
    # what the client sent: lower-case header names, urls with the version
    sent = out["sent"]["requests"]
    assert sent[1]["dependsOn"] == ["1"] and sent[0]["headers"] == {
        "content-type": "application/json"}
    steps = out["steps"]
    assert {i: s["status"] for i, s in steps.items()} == {
        "1": 201, "2": 201, "3": 200, "4": 400, "5": 424}, steps
    for s in steps.values():
        assert s["contentType"].startswith("application/json")
    # bodies came back as JSON through the client's own reading
    assert steps["1"]["body"]["displayName"] == f"{prefix} 1"
    assert steps["1"]["body"]["@odata.context"] == f"{base}/v1.0/{ENTITY_CONTEXT}"
    assert [e["displayName"] for e in steps["3"]["body"]["value"]] == [
        f"{prefix} 1", f"{prefix} 2"]
    assert steps["4"]["body"]["error"]["code"] == "BadRequest"
    assert steps["5"]["body"]["error"]["code"] == "FailedDependency"
    assert sorted(stored_names) == [f"{prefix} 1", f"{prefix} 2"]


def test_json_batching_through_the_graph_client(cycle_service, keys):
    """BatchRequestContent / BatchResponseContent, unmodified: a serial
    dependsOn chain of two creates, a filtered get, a failing create and a
    $count that depends on it (424)."""
    svc, relay, cert_path = cycle_service
    prefix = f"JS batch {uuid.uuid4().hex[:8]}"
    out = run_script(BATCH_SCRIPT, relay.base, keys.token(), prefix, cert_path)
    check_batch(out, relay.base, prefix, stored_names(svc, prefix))
