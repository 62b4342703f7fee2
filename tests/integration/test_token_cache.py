"""The verified-token cache, through a real httpd: a token that was cached
is still refused once it expires, and once a graceful restart took its key
away; time and the location's rules are checked on every use."""
import json
import os
import time

from conftest import COLLECTION, SEED_V1, assert_graph_error, location_block
from graph_calls import Caller


def started(private_service, keys, name, jwks_path, extra=""):
    key = f'RemoteAssistTokenKey "{jwks_path}"'
    return private_service(name, locations=(
        location_block(f"/v1.0{COLLECTION}", "v1.0", key,
                       "    RemoteAssistTokenLeeway 0\n" + extra)
        + location_block(f"/strict/v1.0{COLLECTION}", "v1.0", key,
                         "    RemoteAssistTokenLeeway 0\n"
                         "    RemoteAssistTokenAudience api://somewhere-else")))


def create(svc, token, prefix=""):
    return svc.session.post(svc.url(prefix=prefix), data=json.dumps(SEED_V1),
                            headers={"Authorization": f"Bearer {token}",
                                     "Content-Type": "application/json"}, timeout=30)


def test_a_cached_token_is_refused_once_it_expires(private_service, keys):
    svc = started(private_service, keys, "cache-expiry", keys.path("jwks.json"))
    now = int(time.time())
    token = keys.token(exp=now + 3, iat=now, nbf=now)
    assert create(svc, token).status_code == 201  # verified, and cached
    assert create(svc, token).status_code == 201  # from the cache
    time.sleep(max(0, now + 4 - time.time()))
    with svc.nothing_stored():
        resp = create(svc, token)
    err = assert_graph_error(resp, 401, "InvalidAuthenticationToken")
    assert "expired" in err["message"]


def test_the_second_use_of_a_token_comes_from_the_cache(private_service, keys):
    svc = started(private_service, keys, "cache-hit", keys.path("jwks.json"))
    token = keys.token()
    first, second = create(svc, token), create(svc, token)
    assert first.status_code == second.status_code == 201
    lines = {r.headers["request-id"]: line for r in (first, second)
             for line in svc.log().splitlines() if r.headers["request-id"] in line
             and "RA00033" in line}
    assert not lines[first.headers["request-id"]].endswith("(cached)")
    assert lines[second.headers["request-id"]].endswith("(cached)")


def test_a_cached_token_meets_each_locations_rules(private_service, keys):
    svc = started(private_service, keys, "cache-audience", keys.path("jwks.json"))
    token = keys.token()
    assert create(svc, token).status_code == 201
    with svc.nothing_stored():
        resp = create(svc, token, prefix="/strict")
    assert "audience" in assert_graph_error(resp, 401, "InvalidAuthenticationToken")["message"]


def test_a_cached_token_is_refused_after_a_restart_removed_its_key(private_service, keys,
                                                                   workroot):
    path = os.path.join(workroot.mktemp("cache-rotation"), "jwks.json")
    doc = json.load(open(keys.path("jwks.json")))
    with open(path, "w") as f:
        json.dump(doc, f)
    os.chmod(path, 0o644)
    svc = started(private_service, keys, "cache-restart", path)
    token = keys.token(kid="rsa-1")
    assert create(svc, token).status_code == 201
    assert create(svc, token).status_code == 201
    # rsa-1 leaves the key set; a graceful restart reads it again
    with open(path, "w") as f:
        json.dump({"keys": [k for k in doc["keys"] if k["kid"] != "rsa-1"]}, f)
    generations = svc.log().count("resuming normal operations")
    svc.httpd.graceful()
    deadline = time.time() + 20
    while svc.log().count("resuming normal operations") <= generations:
        assert time.time() < deadline, svc.log()[-2000:]
        time.sleep(0.1)
    # a new connection (old children only finish old ones), signing with ec-1
    fresh = Caller(svc, alg="ES256", kid="ec-1")
    with svc.nothing_stored():
        resp = fresh.request("POST", body=SEED_V1,
                             headers={"Authorization": f"Bearer {token}"})
    assert "kid" in assert_graph_error(resp, 401, "InvalidAuthenticationToken")["message"]
    assert fresh.request("POST", body=SEED_V1).status_code == 201  # ec-1 still serves


def test_the_cache_can_be_turned_off(private_service, keys):
    svc = private_service("cache-off", extra_config="RemoteAssistTokenCache 0")
    token = keys.token()
    assert [create(svc, token).status_code for _ in range(3)] == [201] * 3
