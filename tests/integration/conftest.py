"""Fixtures: keys and tokens, a private PostgreSQL cluster, and a real httpd
serving the module per backend (SQLite and PostgreSQL); and the error-log
checks every test gets (see "Log hygiene" below)."""
import contextlib
import fcntl
import glob
import json
import os
import re
import shutil
import struct
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

from httpd_harness import (COLLECTION, Httpd, as_run_user, children_db,  # noqa: E402,F401
                           location_block, sqlite_db)
from pg_cluster import PgCluster  # noqa: E402

# The schema level this source's module is at: its last sql/step-NNN.sql.
SCHEMA_LEVEL = max(int(os.path.basename(f)[5:8])
                   for f in glob.glob(os.path.join(ROOT, "sql", "step-[0-9][0-9][0-9].sql")))
# ... and the oldest module level that can serve its tables: what the last
# step that raised it set oldest_reader to.
OLDEST_READER = 0
for _path in sorted(glob.glob(os.path.join(ROOT, "sql", "step-[0-9][0-9][0-9].sql"))):
    with open(_path) as _step:
        OLDEST_READER = int((re.findall(r"oldest_reader = (\d+)", _step.read())
                             or [OLDEST_READER])[-1])

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
# Request-body values no log line may ever hold (the module logs ids and
# status, never content); most tests send the seeds.
BODY_MARKERS = [SEED_BETA[p] for p in ("displayName", "onboardingUrl", "lastConnectionDateTime",
                                       "onboardingRequestExpiryDateTime")]


def _pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def _ec_jwk(key):
    """The public JWK of a P-256 key. PyJWT 2.6 (Debian 12) drops a
    coordinate's leading zero bytes, and cjose rightly refuses such a JWK
    (RFC 7518 6.2.1.2: the full 32 bytes), which failed one session in ~128."""
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    numbers = key.public_key().public_numbers()
    for name in ("x", "y"):
        jwk[name] = jwt.utils.base64url_encode(getattr(numbers, name).to_bytes(32, "big")).decode()
    return jwk


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
        self.minted = []  # every token handed out, for the session-end log scan
        for name, key in (("rsa", self.rsa), ("ec", self.ec), ("rsa-other", self.rsa_other)):
            self._write(f"{name}.pem", _pem_private(key))
            self._write(f"{name}.pub.pem", _pem_public(key))
        self._write("secret.txt", (self.secret_value + "\n").encode())
        self._write("jwks.json", json.dumps({"keys": [
            dict(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key())),
                 kid="rsa-1", use="sig", alg="RS256"),
            dict(_ec_jwk(self.ec), kid="ec-1", use="sig"),
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
        token = jwt.encode(self.claims(**claims), key, algorithm=alg, headers=h or None)
        self.minted.append(token)
        return token

    def secrets(self):
        """{text: what it is} for everything of these keys no log may show:
        the HMAC secret and each full line of the private keys' PEM."""
        found = {self.secret_value: "the HMAC secret"}
        for name, key in (("rsa", self.rsa), ("ec", self.ec), ("rsa-other", self.rsa_other)):
            for line in _pem_private(key).decode().splitlines():
                if len(line) == 64:  # a full base64 line, nothing short enough to recur
                    found[line] = f"private key {name}.pem"
        return found


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


@pytest.fixture
def own_pg(workroot):
    """A PostgreSQL cluster of the test's own, which it may stop and start."""
    cluster = PgCluster(workroot.mktemp("pg-fault"))
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
        with children_db(self.dbd[1], timeout=10) as db:
            return db.execute(sql).fetchall()

    def count(self):
        return len(self.rows("SELECT id FROM remote_assistance_partners"))

    def sqlite_writer(self):
        """The pid of the process in a write transaction on the SQLite
        database (its commit included), or None: the holder of byte 120 of
        its -shm file, which SQLite's unix VFS locks (fcntl) from a
        transaction's first write to its commit. Under the module, the child
        committing a batch of creates."""
        try:
            fd = os.open(self.dbd[1] + "-shm", os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            got = fcntl.fcntl(fd, fcntl.F_GETLK,
                              struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 120, 1, 0))
            kind, _, _, _, pid = struct.unpack("hhqqi4x", got)
            return None if kind == fcntl.F_UNLCK else pid
        finally:
            os.close(fd)

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

    def stop(self):
        """Closes the client's keep-alive connections first, so that httpd's
        graceful stop need not wait for them."""
        self.session.close()
        self.httpd.stop()


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


def make_service(workdir, keys, backend, locations=None, extra_config="", expect_log=(),
                 **httpd_args):
    """A started Service; its start-up may log nothing at error level or
    worse but the message ids in expect_log."""
    key = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    if locations is None:
        locations = standard_locations(keys)
    httpd = Httpd(workdir, backend.dbd, key, locations=locations, extra_config=extra_config,
                  **httpd_args)
    httpd.start()
    unexpected = LOG_WATCH.unexpected(expect_log, httpds=[httpd])
    if unexpected:
        httpd.stop()
        pytest.fail(lines_report(f"the start-up of httpd in {workdir} logged", unexpected),
                    pytrace=False)
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
    svc.stop()


@pytest.fixture
def private_service(request, workroot, keys):
    """A factory of services of the test's own, all stopped when it ends:
    private_service(name, pg=None, **Httpd arguments); SQLite unless pg.
    Their start-up may log what the test declares with expect_log."""
    started = []

    def start(name, pg=None, **httpd_args):
        workdir = workroot.mktemp(name)
        backend = (Backend("pgsql", ("pgsql", pg.dbd_params), pg) if pg
                   else Backend("sqlite", sqlite_db(workdir)))
        started.append(make_service(workdir, keys, backend,
                                    expect_log=expected_log_ids(request.node), **httpd_args))
        return started[-1]
    yield start
    for svc in started:
        svc.stop()


@pytest.fixture(scope="session")
def sqlite_service(keys, workroot):
    """The module on SQLite only, for tests that need no second backend."""
    workdir = workroot.mktemp("httpd-sqlite-only")
    svc = make_service(workdir, keys, Backend("sqlite", sqlite_db(workdir)))
    yield svc
    svc.stop()


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


# ------------------------------------------------------------ log hygiene
#
# As httpd's test/pyhttpd does: a test fails when the error logs show a line
# at error level or worse, a child killed by a signal, or a sanitizer report,
# unless it declares the line's message id with
# @pytest.mark.expect_log("RA00040", "AH00629"). Session services are shared,
# so lines are attributed by offset: what every started httpd's log gained
# from the test's first function fixture to the end of its teardown is the
# test's; what they gained between tests (session and module services
# starting and stopping) is checked at session end, undeclarable. Warnings
# never fail. At session end the logs must also hold no minted token, no key
# material and no request-body marker.

FAILING_LEVEL = re.compile(r"\[[\w.-]*:(?:emerg|alert|crit|error)\]")
# AH00052: "child pid N exit signal S"; AH00051 is the same when a core was dumped
CHILD_CRASH = re.compile(r"\bAH0005[12]\b")
SANITIZER = re.compile(r"ERROR: AddressSanitizer|runtime error:")
MESSAGE_ID = re.compile(r"\b(?:RA|AH)\d{5}\b")
TOKEN_RUN = re.compile(r"[A-Za-z0-9_-]{43,}")  # 43: the shortest signature (HS256)
REPORT_LINES = 40


def expected_log_ids(item):
    return {i for mark in item.iter_markers("expect_log") for i in mark.args}


def unexpected_line(line, allowed):
    if SANITIZER.search(line):
        return True  # no sanitizer report can be expected
    if not (FAILING_LEVEL.search(line) or CHILD_CRASH.search(line)):
        return False
    return not set(MESSAGE_ID.findall(line)) & set(allowed)


def sanitizer_reports():
    """The report files of ASan/UBSan runs with log_path (tools/run-tests.sh)."""
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        for option in os.environ.get(var, "").split(":"):
            name, _, prefix = option.partition("=")
            if name == "log_path" and prefix.startswith("/"):
                yield from sorted(glob.glob(glob.escape(prefix) + ".*"))


def lines_report(title, lines):
    shown = lines[:REPORT_LINES]
    more = [f"... and {len(lines) - len(shown)} more"] if len(lines) > len(shown) else []
    return "\n".join([title + ":"] + ["  " + line for line in shown] + more)


class LogWatch:
    """Hands out what the error logs of every started httpd, and the
    sanitizers' report files, gained since the last look, each line once."""

    def __init__(self):
        # reports written before this session (a shared log_path) are not ours
        self.offsets = {path: os.path.getsize(path) for path in sanitizer_reports()}
        self.between_tests = []  # unexpected lines no test is responsible for

    def _take(self, path, origin, final):
        start = self.offsets.get(path, origin)
        try:
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read()
        except FileNotFoundError:
            return []
        if not final:  # a line still being written waits for the next look
            data = data[:data.rfind(b"\n") + 1]
        self.offsets[path] = start + len(data)
        return data.decode(errors="replace").splitlines()

    def unexpected(self, allowed, httpds=None, final=False):
        """'file: line' for each new line that the ids in allowed do not cover;
        only the logs of httpds if given, else every log and sanitizer report."""
        found = []
        for httpd in Httpd.started if httpds is None else httpds:
            found += [f"{httpd.error_log}: {line}"
                      for line in self._take(httpd.error_log, httpd.log_origin, final)
                      if unexpected_line(line, allowed)]
        if httpds is None:
            for path in sanitizer_reports():
                found += [f"{path}: {line}" for line in self._take(path, 0, final)]
        return found


LOG_WATCH = LogWatch()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "expect_log(*ids): error-log lines at error level or worse (or a "
        "child's exit signal) carrying one of these message ids (RAnnnnn, AHnnnnn) "
        "do not fail the test")
    config.addinivalue_line(
        "markers", "slow: takes over about 5 s on 2 cores (reliability fault runs, the "
        "bench smoke run, the Debian package, make run, ...); make check and make test's "
        "sanitized rerun leave it out (-m 'not slow'), make test runs it")


# Scenarios README.md promises, by what their test ids contain: a skip in one
# is printed by name, and tools/run-tests.sh repeats it in make test's summary
# (a skip would otherwise vanish into a count).
PROMISED_SCENARIOS = {"disk-full": "SQLite disk full", "pgsql": "PostgreSQL",
                      "postgresql": "PostgreSQL"}


def pytest_terminal_summary(terminalreporter):
    for report in terminalreporter.stats.get("skipped", []):
        scenarios = sorted({name for key, name in PROMISED_SCENARIOS.items()
                            if key in report.nodeid.lower()})
        if scenarios:
            reason = (report.longrepr[2] if isinstance(report.longrepr, tuple)
                      else str(report.longrepr))
            terminalreporter.write_line(f"promised scenario skipped: {report.nodeid} "
                                        f"({', '.join(scenarios)}): {reason}")


def pytest_collection_modifyitems(items):
    for item in items:
        for i in expected_log_ids(item):
            if not re.fullmatch(MESSAGE_ID, i):
                raise pytest.UsageError(f"{item.nodeid}: expect_log takes message ids "
                                        f"like RA00040 or AH00052, not {i!r}")


@pytest.fixture(autouse=True)
def _log_lines_before_the_test():
    """Set up after session and module fixtures, before the test's own: what
    was logged until now belongs to no test."""
    LOG_WATCH.between_tests += LOG_WATCH.unexpected(())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """After the call and after teardown: the test fails on lines it did not
    declare (a test that failed anyway gets them as a report section)."""
    report = (yield).get_result()
    if call.when == "setup":
        return
    unexpected = LOG_WATCH.unexpected(expected_log_ids(item))
    if not unexpected:
        return
    text = lines_report("the error log shows lines this test did not declare with "
                        "@pytest.mark.expect_log", unexpected)
    if report.failed:
        report.sections.append(("unexpected error-log lines", text))
    else:
        report.outcome, report.longrepr = "failed", text


def leaks(path, needles, signatures):
    """'file:line: what' for each needle or token signature in the file."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    found = {needle: what for needle, what in needles.items() if needle in text}
    by_prefix = {sig[:16]: sig for sig in signatures}
    for run in TOKEN_RUN.findall(text):
        for i in range(len(run) - 42):
            sig = by_prefix.get(run[i:i + 16])
            if sig and run.startswith(sig, i):
                found[sig] = "the signature of a token minted by Keys.token()"
    return [f"{path}:{n}: {what}: {line.strip().replace(needle, '<' + what + '>')[:300]}"
            for n, line in enumerate(text.splitlines(), 1)
            for needle, what in found.items() if needle in line]


@pytest.fixture(scope="session", autouse=True)
def _log_hygiene_at_session_end(keys):
    """After every service has stopped: lines logged between tests, and
    secrets or request bodies in any log of any httpd the session started."""
    yield
    problems = []
    between = LOG_WATCH.between_tests + LOG_WATCH.unexpected((), final=True)
    if between:
        problems.append(lines_report("lines logged outside any test (session and module "
                                     "services starting or stopping)", between))
    needles = dict(keys.secrets(), **{m: "request-body content" for m in BODY_MARKERS})
    signatures = {token.rsplit(".", 1)[1] for token in keys.minted}
    files = dict.fromkeys(path for httpd in Httpd.started for path in httpd.log_files())
    leaked = [hit for path in files for hit in leaks(path, needles, signatures)]
    if leaked:
        problems.append(lines_report("secrets or request content in the logs", leaked))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
