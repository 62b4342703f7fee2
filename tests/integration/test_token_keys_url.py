"""Signing keys from a URL (issue 11): RemoteAssistTokenMetadataUrl and
RemoteAssistTokenJwksUri against a local HTTPS identity provider
(keyserver.py) that rotates its keys, goes down, serves garbage and gets
flooded with made-up kids while httpd runs; httpd restarted during an
outage; the {tenantid} issuer template with two tenants; and the
combinations `apachectl -t` refuses. Every wait is bounded."""
import json
import os
import threading
import time
import uuid

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import (COLLECTION, SEED_V1, TENANT, Backend, Httpd, assert_graph_error,
                      location_block, make_service, sqlite_db)
from graph_calls import BackgroundLoad
from keyserver import JWKS_PATH, METADATA_PATH, KeyServer, Pki, SigningKey
from test_config import configtest

# mod_ra_keys.h: RA_KEYS_WAIT, and RA_URL_KEYS_MAX_DOCUMENT of ra_url_keys.h
KEYS_WAIT = 5
MAX_DOCUMENT = 256 * 1024


@pytest.fixture(scope="module")
def pki(workroot):
    return Pki(workroot.mktemp("pki"))


@pytest.fixture
def idp(pki):
    server = KeyServer(pki).start()
    yield server
    server.stop()


def fetch_directives(idp, refresh, min_interval):
    return (f'    RemoteAssistTokenCA "{idp.pki.ca_path}"\n'
            f"    RemoteAssistTokenKeysRefresh {refresh}\n"
            f"    RemoteAssistTokenKeysMinInterval {min_interval}\n")


def start(workroot, keys, idp, refresh=3600, min_interval=1, key_line=None, locations=None,
          cache=True, expect_log=()):
    """httpd serving /v1.0 with keys from idp (its discovery document unless
    key_line says otherwise), its key cache in the work directory (cache
    False: the default one, under a DefaultRuntimeDir of its own)."""
    workdir = workroot.mktemp("keys-url")
    key_line = key_line or f'RemoteAssistTokenMetadataUrl "{idp.metadata_url}"'
    if locations is None:
        locations = location_block(f"/v1.0{COLLECTION}", "v1.0", key_line,
                                   fetch_directives(idp, refresh, min_interval))
    if cache:
        extra = f'RemoteAssistTokenKeysCache "{os.path.join(workdir, "key-cache")}"'
    else:
        os.makedirs(os.path.join(workdir, "run"))
        extra = f'DefaultRuntimeDir "{os.path.join(workdir, "run")}"'
    return make_service(workdir, keys, Backend("sqlite", sqlite_db(workdir)),
                        locations=locations, extra_config=extra, expect_log=expect_log)


def lines(service, msgid, text=""):
    return [line for line in service.log().splitlines() if msgid in line and text in line]


def wait_for_line(service, msgid, after, timeout, text=""):
    """The lines of msgid (holding text) once there are more than after."""
    deadline = time.time() + timeout
    while len(found := lines(service, msgid, text)) <= after:
        assert time.time() < deadline, f"no new {msgid} line within {timeout} s"
        time.sleep(0.05)
    return found


def create(service, key, **claims):
    return service.post(SEED_V1, token=key.token(service.keys, **claims))


def assert_unknown_kid(resp):
    assert_graph_error(resp, 401, "InvalidAuthenticationToken")
    assert "no signing key has the token's kid" in resp.headers["WWW-Authenticate"]


class Load(BackgroundLoad):
    """Threads creating partners with tokens of the key in use, until stopped
    or each has sent its share; every answer's status counted."""

    def __init__(self, service, key, threads=4, per_thread=2000):
        super().__init__(threads)
        self.service, self.key, self.per_thread = service, key, per_thread
        self.statuses = {}

    def worker(self, n):
        with requests.Session() as session:
            for _ in range(self.per_thread):
                if self.stopping.is_set():
                    return
                token = self.key.token(self.service.keys)
                resp = session.post(self.service.url(), data=json.dumps(SEED_V1), timeout=30,
                                    headers={"Authorization": f"Bearer {token}",
                                             "Content-Type": "application/json"})
                with self.lock:
                    self.statuses[resp.status_code] = self.statuses.get(resp.status_code, 0) + 1


@pytest.mark.slow
def test_rotation_under_create_load(workroot, keys, idp):
    """A new key works at its first token, after one early refresh; the old
    one is refused after the refresh that no longer finds it; no request of
    the load is refused meanwhile."""
    old, new = SigningKey("2025-old"), SigningKey("2026-new")
    idp.publish(old)
    service = start(workroot, keys, idp, refresh=4, min_interval=2)
    try:
        with Load(service, old) as load:
            # right after a scheduled refresh, the next is 4 s away
            assert idp.wait_for_fetches(idp.count() + 1, timeout=10)
            rotated_at = idp.count()
            idp.publish(old, new)
            first = create(service, new)
            assert first.status_code == 201, first.text
            assert idp.count() - rotated_at == 1, "more than the one early refresh"
            load.key = new  # the clients move to the new key
            idp.publish(new)
            wait_for_line(service, "RA00050", 0, timeout=10, text="(kid 2026-new)")
            time.sleep(0.5)
        assert_unknown_kid(create(service, old))
        assert set(load.statuses) == {201}, load.statuses
        created = sum(load.statuses.values()) + 1
        assert created > 50
        assert service.backend.count() == created
    finally:
        service.stop()


@pytest.mark.slow
@pytest.mark.parametrize("key_line", ["metadata", "jwks"])
def test_key_server_down_keeps_the_last_keys_and_recovers(workroot, keys, idp, key_line):
    known, later = SigningKey("known"), SigningKey("later")
    idp.publish(known)
    url = {"metadata": f'RemoteAssistTokenMetadataUrl "{idp.metadata_url}"',
           "jwks": f'RemoteAssistTokenJwksUri "{idp.jwks_url}"'}[key_line]
    service = start(workroot, keys, idp, refresh=2, min_interval=1, key_line=url)
    try:
        idp.stop()
        warnings = wait_for_line(service, "RA00052", 0, timeout=10)
        assert "[remoteassist:warn]" in warnings[-1]
        assert "the last good keys stay in use" in warnings[-1]
        assert idp.url("/") in warnings[-1]
        assert create(service, known).status_code == 201
        # an unknown kid during the outage: its early refresh fails, a bounded 401
        began = time.time()
        assert_unknown_kid(create(service, later))
        assert time.time() - began < KEYS_WAIT + 1
        idp.publish(known, later)
        idp.start()
        wait_for_line(service, "RA00050", 0, timeout=10, text="(kid known,later)")
        assert create(service, later).status_code == 201
        assert create(service, known).status_code == 201
    finally:
        service.stop()


def jwks_bytes(*jwks, **members):
    return json.dumps(dict({"keys": list(jwks)}, **members)).encode()


def small_rsa_jwk():
    key = SigningKey("small")
    key.private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.jwk()


def padded_jwk(key):
    return dict(key.jwk(), e="AQAB=")


# (what the identity provider serves wrong, at which path, words of the warning)
BAD_DOCUMENTS = [
    ("garbage", JWKS_PATH, lambda key: b"<html>503 Service Unavailable</html>",
     "the JWKS is not JSON"),
    ("oversized", JWKS_PATH,
     lambda key: jwks_bytes(key.jwk(), padding="x" * MAX_DOCUMENT), "exceeds 262144 bytes"),
    ("no keys array", JWKS_PATH, lambda key: b'{"keys": "none"}', "needs a \"keys\" array"),
    ("only a 1024-bit RSA key", JWKS_PATH, lambda key: jwks_bytes(small_rsa_jwk()),
     "RSA key of 1024 bits"),
    ("padded base64url", JWKS_PATH, lambda key: jwks_bytes(padded_jwk(key)),
     "not unpadded base64url"),
    ("garbage discovery document", METADATA_PATH, lambda key: b"maintenance",
     "invalid JSON"),
    ("plain http jwks_uri", METADATA_PATH,
     lambda key: json.dumps({"issuer": "https://sts.windows.net/{tenantid}/",
                             "jwks_uri": "http://127.0.0.1:1/keys"}).encode(),
     "its jwks_uri: plain http:// is not allowed"),
    ("not found", JWKS_PATH, None, "HTTP status 404"),  # None: nothing served
]


@pytest.mark.slow
def test_bad_documents_keep_the_last_good_keys(workroot, keys, idp):
    good = SigningKey("good")
    idp.publish(good)
    healthy = dict(idp.documents)
    service = start(workroot, keys, idp, refresh=1, min_interval=1)
    new_keys = len(lines(service, "RA00050"))  # the first fetch's
    try:
        for name, path, body, words in BAD_DOCUMENTS:
            before = len(lines(service, "RA00052", words))
            idp.set_document(path, body and body(good))
            wait_for_line(service, "RA00052", before, timeout=10, text=words)
            resp = create(service, good)
            assert resp.status_code == 201, (name, resp.text)
            idp.set_document(path, healthy[path])
    finally:
        service.stop()
    assert len(lines(service, "RA00050")) == new_keys, "a bad document replaced the keys"


@pytest.mark.slow
def test_flood_of_unknown_kids_costs_one_fetch_per_interval(workroot, keys, idp):
    good, forger = SigningKey("good"), SigningKey("forger")
    idp.publish(good)
    interval, seconds = 2, 6
    service = start(workroot, keys, idp, min_interval=interval,
                    key_line=f'RemoteAssistTokenJwksUri "{idp.jwks_url}"')
    statuses, lock = {}, threading.Lock()

    def flood(deadline):
        with requests.Session() as session:
            while time.time() < deadline:
                token = keys.token(kid=f"made-up-{uuid.uuid4()}", key=forger.private)
                resp = session.post(service.url(), data=json.dumps(SEED_V1), timeout=30,
                                    headers={"Authorization": f"Bearer {token}",
                                             "Content-Type": "application/json"})
                with lock:
                    statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1

    try:
        fetched_before, began = idp.count(), time.time()
        threads = [threading.Thread(target=flood, args=(began + seconds,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 2 * KEYS_WAIT)
        elapsed = time.time() - began
        fetches = idp.count() - fetched_before
        assert set(statuses) == {401}, statuses
        assert sum(statuses.values()) >= 100
        assert 1 <= fetches <= elapsed // interval + 1, (fetches, elapsed)
        assert create(service, good).status_code == 201
    finally:
        service.stop()


def test_restart_with_the_key_server_down_uses_the_persisted_keys(workroot, keys, idp):
    key = SigningKey("persisted")
    idp.publish(key)
    service = start(workroot, keys, idp, refresh=2, min_interval=1)
    cache = os.path.join(service.httpd.workdir, "key-cache")
    try:
        assert len(os.listdir(cache)) == 1
        service.stop()
        idp.stop()
        service.httpd.start()
        loaded = lines(service, "RA00055", "kid persisted")
        assert loaded and "from the cache file" in loaded[-1]
        assert create(service, key).status_code == 201
        # a graceful restart (the module reloaded) while the refreshes fail
        failed = wait_for_line(service, "RA00052", 0, timeout=10)
        service.httpd.graceful()
        wait_for_line(service, "RA00055", len(loaded), timeout=10, text="kid persisted")
        assert create(service, key).status_code == 201
        assert "[remoteassist:warn]" in failed[-1]
    finally:
        service.stop()


def test_an_unchanged_refresh_rewrites_a_cache_file_with_older_keys(workroot, keys, idp):
    """The fetcher compares the cache file with the keys, rather than trust
    that it was written with the shared block: when that write failed (or the
    fetcher died before it), the file would otherwise keep older keys, with a
    fresh time, for the next start to load."""
    idp.publish(SigningKey("old"))
    service = start(workroot, keys, idp, refresh=1, min_interval=1)
    cache = os.path.join(service.httpd.workdir, "key-cache")

    def cached():
        # the fetcher writes NAME.json.XXXXXX and renames it: only the file
        [name] = [n for n in os.listdir(cache) if n.endswith(".json")]
        with open(os.path.join(cache, name), "rb") as f:
            return os.path.join(cache, name), f.read()

    def wait_until(holds, what):
        deadline = time.time() + 10
        while not holds(cached()[1]):
            assert time.time() < deadline, what
            time.sleep(0.1)

    try:
        path, old = cached()
        idp.publish(SigningKey("new"))
        wait_until(lambda data: data != old, "the new keys never reached the cache file")
        current = cached()[1]
        with open(path, "wb") as f:
            f.write(old)
        wait_until(lambda data: data == current, "a refresh left the older keys in the file")
    finally:
        service.stop()


@pytest.mark.expect_log("RA00052", "RA00057", "RA00030")
def test_first_start_without_cache_or_network_answers_503_until_keys_come(workroot, keys,
                                                                          idp):
    """What docs/configuration.md's "Offline" says: httpd starts, requests answer 503,
    and the first fetch that succeeds ends it."""
    key = SigningKey("first")
    idp.publish(key)
    idp.stop()
    service = start(workroot, keys, idp, min_interval=1, cache=False,
                    expect_log=("RA00052",))
    try:
        assert "no keys yet" in lines(service, "RA00052")[-1]
        resp = create(service, key)
        assert_graph_error(resp, 503, "ServiceNotAvailable")
        assert resp.headers["Retry-After"] == "5"
        idp.start()
        wait_for_line(service, "RA00050", 0, timeout=10)
        assert create(service, key).status_code == 201
        default_cache = os.path.join(service.httpd.workdir, "run", "remoteassist-keys")
        assert len(os.listdir(default_cache)) == 1
    finally:
        service.stop()


TENANT_B = "5b7d1c4e-0000-4000-8000-00000000000b"


def test_tenantid_issuer_template_with_two_tenants(workroot, keys, idp):
    """Microsoft's multi-tenant metadata names its issuer with {tenantid}; so
    may RemoteAssistTokenIssuer. Each tenant's tokens pass with their own
    issuer, another tenant's issuer fails, and the tenants stay apart."""
    key = SigningKey("common")
    idp.publish(key)
    idp.set_metadata("https://login.example/{tenantid}/v2.0")
    fetch = fetch_directives(idp, 3600, 1)
    locations = (location_block(f"/v1.0{COLLECTION}", "v1.0",
                                f'RemoteAssistTokenMetadataUrl "{idp.metadata_url}"', fetch)
                 + location_block(f"/v1/v1.0{COLLECTION}", "v1.0",
                                  f'RemoteAssistTokenJwksUri "{idp.jwks_url}"',
                                  fetch + "    RemoteAssistTokenIssuer "
                                  "https://sts.windows.net/{tenantid}/\n"))
    service = start(workroot, keys, idp, locations=locations)
    v2 = "https://login.example/{}/v2.0".format
    v1 = "https://sts.windows.net/{}/".format
    created = {TENANT: [], TENANT_B: []}
    try:
        for prefix, issuer, other in (("", v2, v1), ("/v1", v1, v2)):
            for tid in (TENANT, TENANT_B):
                created[tid].append(f"{tid[:8]}{prefix.replace('/', '-')}")
                resp = service.post(dict(SEED_V1, id=created[tid][-1]), prefix=prefix,
                                    token=key.token(keys, tid=tid, iss=issuer(tid)))
                assert resp.status_code == 201, resp.text
                listed = service.post(method="GET", prefix=prefix,
                                      token=key.token(keys, tid=tid, iss=issuer(tid)))
                assert sorted(p["id"] for p in listed.json()["value"]) == sorted(created[tid])
            for tid, iss in ((TENANT_B, issuer(TENANT)), (TENANT, other(TENANT))):
                resp = service.post(SEED_V1, prefix=prefix, token=key.token(keys, tid=tid,
                                                                            iss=iss))
                assert_graph_error(resp, 401, "InvalidAuthenticationToken")
                assert "iss is not an accepted issuer" in resp.headers["WWW-Authenticate"]
    finally:
        service.stop()


URL = "https://127.0.0.1:1/tenant/v2.0/.well-known/openid-configuration"


def loc(lines_, path=f"/v1.0{COLLECTION}"):
    return location_block(path, "v1.0", "\n    ".join(lines_))


# (a configuration's sections, words apachectl -t says; None: Syntax OK)
CONFIGURATIONS = [
    ("key file, then a URL", lambda k: loc([f'RemoteAssistTokenKey "{k}"',
                                            f"RemoteAssistTokenMetadataUrl {URL}"]),
     ["RemoteAssistTokenMetadataUrl", "already has RemoteAssistTokenKey"]),
    ("a URL, then a key file", lambda k: loc([f"RemoteAssistTokenJwksUri {URL}",
                                              f'RemoteAssistTokenKey "{k}"']),
     ["RemoteAssistTokenKey", "already has RemoteAssistTokenJwksUri"]),
    ("a JWKS URL and a discovery URL", lambda k: loc([f"RemoteAssistTokenJwksUri {URL}",
                                                      f"RemoteAssistTokenMetadataUrl {URL}"]),
     ["RemoteAssistTokenMetadataUrl", "already has RemoteAssistTokenJwksUri"]),
    ("plain http", lambda k: loc(["RemoteAssistTokenJwksUri http://127.0.0.1:1/keys"]),
     ["RA00060", "http://127.0.0.1:1/keys", "RemoteAssistTokenAllowHttp"]),
    ("plain http, allowed", lambda k: loc(["RemoteAssistTokenJwksUri http://127.0.0.1:1/keys",
                                           "RemoteAssistTokenAllowHttp On"]), None),
    ("not a URL", lambda k: loc(["RemoteAssistTokenJwksUri keys.json"]),
     ["RemoteAssistTokenJwksUri", "not an absolute URL"]),
    ("ftp", lambda k: loc(["RemoteAssistTokenMetadataUrl ftp://idp.test/meta"]),
     ["RemoteAssistTokenMetadataUrl", "not an https:// URL"]),
    ("missing CA file", lambda k: loc([f"RemoteAssistTokenMetadataUrl {URL}",
                                       "RemoteAssistTokenCA /nonexistent/ca.pem"]),
     ["RemoteAssistTokenCA", "/nonexistent/ca.pem"]),
    ("refresh 0", lambda k: loc([f"RemoteAssistTokenMetadataUrl {URL}",
                                 "RemoteAssistTokenKeysRefresh 0"]),
     ["RemoteAssistTokenKeysRefresh"]),
    ("minimum interval not a number", lambda k: loc([f"RemoteAssistTokenMetadataUrl {URL}",
                                                     "RemoteAssistTokenKeysMinInterval soon"]),
     ["RemoteAssistTokenKeysMinInterval"]),
    ("cache directory in a section", lambda k: loc([f"RemoteAssistTokenMetadataUrl {URL}",
                                                    "RemoteAssistTokenKeysCache /tmp/x"]),
     ["RemoteAssistTokenKeysCache", "not allowed"]),
    ("one URL, two refresh intervals",
     lambda k: loc([f"RemoteAssistTokenMetadataUrl {URL}", "RemoteAssistTokenKeysRefresh 60"])
     + loc([f"RemoteAssistTokenMetadataUrl {URL}"], f"/beta{COLLECTION}"),
     ["RA00061", "RemoteAssistTokenKeysRefresh", URL]),
    ("one URL, the same settings in two sections",
     lambda k: loc([f"RemoteAssistTokenMetadataUrl {URL}", "RemoteAssistTokenKeysRefresh 60"])
     + loc([f"RemoteAssistTokenMetadataUrl {URL}", "RemoteAssistTokenKeysRefresh 60"],
           f"/beta{COLLECTION}"), None),
    ("a URL inherited from an enclosing section",
     lambda k: location_block("/v1.0", "v1.0", f"RemoteAssistTokenMetadataUrl {URL}")
     .replace("SetHandler remoteassist", "") + loc([]), None),
]


@pytest.mark.parametrize("sections,words", [c[1:] for c in CONFIGURATIONS],
                         ids=[c[0] for c in CONFIGURATIONS])
def test_configtest(workroot, keys, sections, words):
    """apachectl -t: nothing is fetched, bad combinations name what is wrong."""
    workdir = workroot.mktemp("keys-conf")
    httpd = Httpd(workdir, sqlite_db(workdir), "",
                  locations=sections(keys.path("jwks.json")))
    rc, out = configtest(httpd)
    if words is None:
        assert rc == 0 and "Syntax OK" in out, out
    else:
        assert rc != 0, out
        for w in words:
            assert w in out, out
