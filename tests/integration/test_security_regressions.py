"""Issue 7's reproducers, kept as regressions: bytes that reached cjose's
base64url decoder, whose assert() aborted the httpd process that called it
(a child for a bearer token, the parent for a key file)."""
import json
import os
import time

import pytest

from conftest import SEED_V1, assert_graph_error, location_block, COLLECTION
from test_config import configtest, make  # noqa: F401 (make is a fixture)

# The bearer tokens that aborted a child (issue 7, 1.), and relatives that
# put '=' or a length of 1 mod 4 into each of the three segments.
ABORTING_TOKENS = [
    "B=.", "A=.x.y", "ABCDE=.x.y", "eyJhbGciOiJSUzI1NiJ9.e30.B=",
    "eyJhbGciOiJSUzI1NiJ9.B=.c2ln", "eyJhbGciOiJSUzI1NiJ9.e30=.c2ln",
    "A.e30.c2ln", "eyJhbGciOiJSUzI1NiJ9.ABCDE.c2ln", "=.=.=",
]


@pytest.mark.parametrize("token", ABORTING_TOKENS)
def test_token_that_aborted_a_child_is_a_401(service, token):
    children = set(service.httpd.child_pids())
    with service.nothing_stored():
        resp = service.post(SEED_V1, headers={"Authorization": f"Bearer {token}"}, token=None)
    assert_graph_error(resp, 401, "InvalidAuthenticationToken")
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    # the same children still serve, and the next good request works
    assert set(service.httpd.child_pids()) == children
    assert service.post(SEED_V1).status_code == 201
    assert "AH00052" not in service.log() and "Assertion" not in service.log()


def jwks_with(keys, member, value):
    doc = json.load(open(keys.path("jwks.json")))
    doc["keys"][0][member] = value
    return doc


@pytest.mark.parametrize("member,value", [("n", "B="), ("e", "A="), ("n", "ABCDE="),
                                          ("n", "not base64!")])
def test_jwks_that_aborted_configtest_is_a_named_error(make, workroot, keys, member, value):
    path = os.path.join(workroot.mktemp("badjwks"), "jwks.json")
    with open(path, "w") as f:
        json.dump(jwks_with(keys, member, value), f)
    key = f'RemoteAssistTokenKey "{path}"'
    rc, out = configtest(make(locations=location_block(f"/v1.0{COLLECTION}", "v1.0", key)))
    assert rc == 1, out  # an error exit, not SIGABRT (-6)
    assert "Assertion" not in out
    for word in ("RA00008", "RemoteAssistTokenKey", path, f'"{member}"'):
        assert word in out, out


@pytest.mark.expect_log("RA00009")
def test_bad_key_file_at_graceful_restart_keeps_old_keys(private_service, workroot, keys):
    """A JWKS swapped for a broken one before a graceful restart: the parent
    keeps running and serving with the keys it had, and logs why (RA00009)."""
    path = os.path.join(workroot.mktemp("rotating"), "jwks.json")
    with open(path, "w") as f:
        f.write(open(keys.path("jwks.json")).read())
    os.chmod(path, 0o644)
    key = f'RemoteAssistTokenKey "{path}"'
    svc = private_service("restart-keys", locations=location_block(
        f"/v1.0{COLLECTION}", "v1.0", key))
    assert svc.post(SEED_V1).status_code == 201
    with open(path, "w") as f:
        json.dump(jwks_with(keys, "n", "B="), f)
    before = len(svc.log())
    svc.httpd.graceful()
    deadline = time.time() + 20
    while "resuming normal operations" not in svc.log()[before:] and time.time() < deadline:
        time.sleep(0.1)
    new_log = svc.log()[before:]
    assert "resuming normal operations" in new_log, new_log
    assert svc.httpd.proc.poll() is None, "the parent exited"
    assert "RA00009" in new_log and path in new_log, new_log
    assert svc.post(SEED_V1).status_code == 201
    assert "AH00052" not in svc.log() and "Assertion" not in svc.log()
    # fixed again: the next restart loads the file, and says nothing
    with open(path, "w") as f:
        f.write(open(keys.path("jwks.json")).read())
    before = len(svc.log())
    svc.httpd.graceful()
    deadline = time.time() + 20
    while "resuming normal operations" not in svc.log()[before:] and time.time() < deadline:
        time.sleep(0.1)
    assert "RA00009" not in svc.log()[before:]
    assert svc.post(SEED_V1).status_code == 201
