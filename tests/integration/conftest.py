"""Fixtures: keys and tokens, a private PostgreSQL cluster, and a real httpd
serving the module per backend (SQLite and PostgreSQL)."""
import contextlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from httpd_harness import COLLECTION, Httpd, location_block, sqlite_db  # noqa: E402,F401
from pg_cluster import PgCluster  # noqa: E402

PERMISSION = "DeviceManagementServiceConfig.ReadWrite.All"
MSA_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
GRAPH_CONTENT_TYPE = ("application/json;odata.metadata=minimal;odata.streaming=true;"
                      "IEEE754Compatible=false;charset=utf-8")

# The seeds' example request bodies (v1.0: 002_*, beta: 004_*).
SEED_V1 = {
    "@odata.type": "#microsoft.graph.remoteAssistancePartner",
    "displayName": "Display Name value",
    "onboardingUrl": "https://example.com/onboardingUrl/",
    "onboardingStatus": "onboarding",
    "lastConnectionDateTime": "2016-12-31T23:58:36.6670033-08:00",
}
SEED_BETA = dict(SEED_V1, onboardingRequestExpiryDateTime="2017-01-01T00:02:07.7573274-08:00")


def _pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


class Keys:
    """Signing keys on disk and a token factory.

    jwks.json holds rsa-1 (RSA 2048) and ec-1 (P-256); rsa-other signs tokens
    the server has no key for; secret.txt is an HS256 secret."""

    def __init__(self, d):
        self.dir = str(d)
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.secret_value = os.urandom(32).hex()
        self.paths = {}
        for name, key in (("rsa", self.rsa), ("ec", self.ec), ("rsa-other", self.rsa_other)):
            self._write(f"{name}.pem", _pem_private(key))
            self._write(f"{name}.pub.pem", _pem_public(key))
        self._write("secret.txt", (self.secret_value + "\n").encode())
        self._write("jwks.json", json.dumps({"keys": [
            dict(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key())),
                 kid="rsa-1", use="sig", alg="RS256"),
            dict(json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key())),
                 kid="ec-1", use="sig"),
        ]}).encode())

    def _write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        self.paths[name] = path

    def path(self, name):
        return self.paths[name]

    def claims(self, **overrides):
        now = int(time.time())
        c = {"aud": "https://graph.microsoft.com",
             "iss": f"https://sts.windows.net/{TENANT}/", "iat": now, "nbf": now,
             "exp": now + 3600, "tid": TENANT, "oid": str(uuid.uuid4()),
             "sub": "test-user", "scp": f"User.Read {PERMISSION}", "idtyp": "user"}
        for k, v in overrides.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def token(self, alg="RS256", kid="rsa-1", key=None, headers=None, **claims):
        """A token signed with rsa-1 by default; claim=None removes a claim."""
        if key is None:
            key = {"RS256": self.rsa, "PS256": self.rsa, "RS512": self.rsa,
                   "ES256": self.ec, "HS256": self.secret_value.encode()}[alg]
        h = dict(headers or {})
        if kid is not None:
            h["kid"] = kid
        return jwt.encode(self.claims(**claims), key, algorithm=alg, headers=h or None)


class WorkRoot:
    """Directories httpd's User and the postgres user can enter (pytest's
    own temporary directories are private to root)."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="ra-tests-")
        os.chmod(self.root, 0o755)

    def mktemp(self, name):
        path = tempfile.mkdtemp(prefix=name + "-", dir=self.root)
        os.chmod(path, 0o755)
        return path


@pytest.fixture(scope="session")
def workroot():
    root = WorkRoot()
    yield root
    shutil.rmtree(root.root, ignore_errors=True)


@pytest.fixture(scope="session")
def keys(workroot):
    return Keys(workroot.mktemp("keys"))


@pytest.fixture(scope="session")
def pg(workroot):
    cluster = PgCluster(workroot.mktemp("pg"))
    cluster.start()
    yield cluster
    cluster.destroy()


class Backend:
    """Row counts and reads straight from the database, bypassing httpd."""

    def __init__(self, name, dbd, pg=None):
        self.name, self.dbd, self.pg = name, dbd, pg

    def rows(self, sql="SELECT id, display_name, onboarding_url, onboarding_status, "
                       "last_connection_date_time, onboarding_request_expiry_date_time, "
                       "api_version FROM remote_assistance_partners"):
        if self.pg:
            out = self.pg.psql(sql)
            return [tuple(None if v == "\\N" else v for v in line.split("|"))
                    for line in out.splitlines()]
        with contextlib.closing(sqlite3.connect(self.dbd[1], timeout=10)) as db:
            return db.execute(sql).fetchall()

    def count(self):
        return len(self.rows("SELECT id FROM remote_assistance_partners"))

    def row(self, pid):
        cols = ("id", "displayName", "onboardingUrl", "onboardingStatus",
                "lastConnectionDateTime", "onboardingRequestExpiryDateTime", "apiVersion")
        for r in self.rows():
            if r[0] == pid:
                return dict(zip(cols, r))
        return None


class Service:
    """A running httpd plus the ways tests talk to it."""

    def __init__(self, httpd, backend, keys):
        self.httpd, self.backend, self.keys = httpd, backend, keys
        self.session = requests.Session()

    def url(self, version="v1.0", prefix=""):
        return f"{self.httpd.base}{prefix}/{version}{COLLECTION}"

    def post(self, body=None, version="v1.0", token="valid", headers=None, data=None,
             method="POST", url=None, prefix=""):
        h = {"Content-Type": "application/json"}
        if token == "valid":
            token = self.keys.token()
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        if data is None and body is not None:
            data = json.dumps(body)
        return self.session.request(method, url or self.url(version, prefix), data=data,
                                    headers=h, timeout=30)

    @contextlib.contextmanager
    def nothing_stored(self):
        """Asserts that the block adds no row."""
        before = self.backend.count()
        yield
        assert self.backend.count() == before, "a rejected request stored a row"

    def log(self):
        return self.httpd.read_log()


STRICT_AUDIENCE = "api://contoso-remoteassist"
STRICT_ISSUER = "https://issuer.example/contoso/"
STRICT_MAX_BODY = 300
PROXY_BASE = "https://graph.contoso.com/v1.0"


def standard_locations(keys):
    """v1.0 and beta as documented, plus prefixed variants that exercise the
    other directives: /hs256 (shared secret), /pem (PEM public key), /strict
    (own audience and issuer, no leeway, small body limit), /proxied
    (RemoteAssistBaseURL)."""
    jwks = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    return "".join([
        location_block(f"/v1.0{COLLECTION}", "v1.0", jwks),
        location_block(f"/beta{COLLECTION}", "beta", jwks),
        location_block(f"/hs256/v1.0{COLLECTION}", "v1.0",
                       f'RemoteAssistTokenSecret "{keys.path("secret.txt")}"'),
        location_block(f"/pem/v1.0{COLLECTION}", "v1.0",
                       f'RemoteAssistTokenKey "{keys.path("rsa.pub.pem")}"'),
        location_block(f"/strict/v1.0{COLLECTION}", "v1.0", jwks,
                       f"    RemoteAssistTokenAudience {STRICT_AUDIENCE}\n"
                       f"    RemoteAssistTokenIssuer https://other.example/ {STRICT_ISSUER}\n"
                       f"    RemoteAssistTokenLeeway 0\n"
                       f"    RemoteAssistMaxBody {STRICT_MAX_BODY}"),
        location_block(f"/proxied/v1.0{COLLECTION}", "v1.0", jwks,
                       f"    RemoteAssistBaseURL {PROXY_BASE}/"),
    ])


def make_service(workdir, keys, backend, locations=None, extra_config="", **httpd_args):
    key = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    if locations is None:
        locations = standard_locations(keys)
    httpd = Httpd(workdir, backend.dbd, key, locations=locations, extra_config=extra_config,
                  **httpd_args)
    httpd.start()
    return Service(httpd, backend, keys)


@pytest.fixture(scope="session", params=["sqlite", "pgsql"])
def service(request, keys, workroot):
    """The module with v1.0 and beta locations, on each backend in turn."""
    workdir = workroot.mktemp(f"httpd-{request.param}")
    if request.param == "sqlite":
        backend = Backend("sqlite", sqlite_db(workdir))
    else:
        pg = request.getfixturevalue("pg")
        backend = Backend("pgsql", ("pgsql", pg.dbd_params), pg)
    svc = make_service(workdir, keys, backend)
    yield svc
    svc.httpd.stop()


@pytest.fixture
def private_service(workroot, keys):
    """A factory of services of the test's own, all stopped when it ends:
    private_service(name, pg=None, **Httpd arguments); SQLite unless pg."""
    started = []

    def start(name, pg=None, **httpd_args):
        workdir = workroot.mktemp(name)
        backend = (Backend("pgsql", ("pgsql", pg.dbd_params), pg) if pg
                   else Backend("sqlite", sqlite_db(workdir)))
        started.append(make_service(workdir, keys, backend, **httpd_args))
        return started[-1]
    yield start
    for svc in started:
        svc.httpd.stop()


@pytest.fixture(scope="session")
def sqlite_service(keys, workroot):
    """The module on SQLite only, for tests that need no second backend."""
    workdir = workroot.mktemp("httpd-sqlite-only")
    svc = make_service(workdir, keys, Backend("sqlite", sqlite_db(workdir)))
    yield svc
    svc.httpd.stop()


def assert_graph_error(resp, status, code):
    """A Graph error: status, JSON media type, error body, ids in headers and body."""
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == GRAPH_CONTENT_TYPE
    assert "<html" not in resp.text.lower()
    err = resp.json()["error"]
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"]
    inner = err["innerError"]
    assert inner["request-id"] == resp.headers["request-id"]
    assert inner["client-request-id"] == resp.headers["client-request-id"]
    assert len(inner["date"]) == 19 and inner["date"][10] == "T"
    uuid.UUID(resp.headers["request-id"])
    return err
