"""Graph's JSON $batch (POST {root}/$batch), on SQLite and PostgreSQL and on
v1.0 and beta: inner requests run in-process through the same routes,
access checks, token and validation as outside ones; dependsOn and 424;
bad batches refused whole with nothing run; and httpd's access
configuration of the partners' <Location> applied to every inner request
as if it had been sent alone."""
import json
import uuid

import pytest

from conftest import COLLECTION, GRAPH_CONTENT_TYPE, SEED_BETA, SEED_V1, assert_graph_error
from httpd_harness import location_block

PARTNERS = "/deviceManagement/remoteAssistancePartners"


def batch_url(service, version="v1.0", prefix=""):
    return f"{service.httpd.base}{prefix}/{version}/$batch"


def send(service, body, version="v1.0", token="valid", headers=None, prefix=""):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return service.post(url=batch_url(service, version, prefix), data=data, token=token,
                        headers=headers)


def by_id(resp):
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == GRAPH_CONTENT_TYPE
    return {r["id"]: r for r in resp.json()["responses"]}


def create_step(rid, pid, **extra):
    return dict({"id": rid, "method": "POST", "url": PARTNERS,
                 "headers": {"Content-Type": "application/json"},
                 "body": {"id": pid, "displayName": f"batch {pid}"}}, **extra)


def new_id():
    return "b-" + uuid.uuid4().hex


@pytest.mark.parametrize("version,seed", [("v1.0", SEED_V1), ("beta", SEED_BETA)])
def test_creates_a_get_and_a_dependent_update_run_and_commit(service, version, seed):
    a, b = new_id(), new_id()
    body = {k: v for k, v in seed.items() if not k.startswith("@")}
    resp = send(service, {"requests": [
        create_step("1", a),
        {"id": "2", "method": "POST", "url": PARTNERS, "dependsOn": ["1"],
         "headers": {"content-type": "application/json"}, "body": dict(body, id=b)},
        {"id": "3", "method": "GET", "url": f"{PARTNERS}/{a}", "dependsOn": ["1"]},
        {"id": "4", "method": "PATCH", "url": f"{PARTNERS}('{b}')", "dependsOn": ["2", "3"],
         "headers": {"Content-Type": "application/json"}, "body": {"displayName": "changed"}},
        {"id": "5", "method": "GET", "url": f"{PARTNERS}/$count?$filter=id eq '{a}'",
         "dependsOn": ["4"]},
    ]}, version=version)
    r = by_id(resp)
    assert [r[i]["status"] for i in "12345"] == [201, 201, 200, 200, 200], resp.text
    root = f"{service.httpd.base}/{version}"
    assert r["1"]["headers"].get("Location") == f"{root}{PARTNERS}('{a}')"
    assert r["1"]["headers"]["Content-Type"] == GRAPH_CONTENT_TYPE
    assert r["1"]["body"]["id"] == a
    assert r["1"]["body"]["@odata.context"].startswith(f"{root}/$metadata#")
    assert r["3"]["body"]["displayName"] == f"batch {a}"
    assert r["3"]["headers"]["ETag"] == r["3"]["body"]["@odata.etag"]
    assert r["4"]["body"]["displayName"] == "changed"
    assert r["5"]["body"] == "1"
    assert service.backend.row(b)["displayName"] == "changed"
    assert ("onboardingRequestExpiryDateTime" in r["2"]["body"]) == (version == "beta")
    for step in r.values():
        uuid.UUID(step["headers"]["request-id"])


def test_a_failed_request_fails_its_dependents_transitively_with_424(service):
    a, c = new_id(), new_id()
    r = by_id(send(service, {"requests": [
        create_step("1", a),
        create_step("2", a, dependsOn=["1"]),                 # 409: the id exists
        create_step("3", new_id(), dependsOn=["2"]),          # 424
        {"id": "4", "method": "DELETE", "url": f"{PARTNERS}/{a}", "dependsOn": ["3"]},  # 424
        create_step("5", c, dependsOn=["1"]),                 # runs: 1 succeeded
    ]}))
    assert [r[i]["status"] for i in "12345"] == [201, 409, 424, 424, 201]
    assert r["2"]["body"]["error"]["code"] == "Conflict"
    assert r["3"]["body"]["error"]["code"] == "FailedDependency"
    assert service.backend.row(a) is not None and service.backend.row(c) is not None


def test_responses_keep_the_order_sent_and_run_dependencies_first(service):
    a = new_id()
    r = send(service, {"requests": [
        {"id": "get", "method": "GET", "url": f"{PARTNERS}/{a}", "dependsOn": ["make"]},
        create_step("make", a),
    ]})
    steps = r.json()["responses"]
    assert [s["id"] for s in steps] == ["get", "make"]
    assert [s["status"] for s in steps] == [200, 201]


# Inner requests refused each on its own, as if sent alone: the rest runs.
INNER_REFUSALS = [
    ("GET", f"{PARTNERS}/does-not-exist", None, 404, "ResourceNotFound"),
    ("GET", f"{PARTNERS}?$top=x", None, 400, "BadRequest"),
    ("POST", PARTNERS, {"onboardingStatus": "nope"}, 400, "BadRequest"),
    ("PUT", f"{PARTNERS}/x", {"id": "x"}, 405, "MethodNotAllowed"),
    ("GET", "/users", None, 404, "ResourceNotFound"),
    ("GET", "http://127.0.0.1:1/v1.0" + PARTNERS, None, 400, "BadRequest"),
    ("GET", "//127.0.0.1:1/v1.0" + PARTNERS, None, 400, "BadRequest"),
    ("GET", "/../beta" + PARTNERS, None, 400, "BadRequest"),
    ("GET", "/%2e%2e/beta" + PARTNERS, None, 400, "BadRequest"),
    ("GET", "/remoteassist-metrics", None, 404, "ResourceNotFound"),
    ("GET", "/../hs256/v1.0" + PARTNERS, None, 400, "BadRequest"),
]


@pytest.mark.parametrize("method,url,body,status,code", INNER_REFUSALS)
def test_an_inner_request_outside_the_entity_set_or_invalid_fails_alone(
        service, method, url, body, status, code):
    pid = new_id()
    step = {"id": "x", "method": method, "url": url}
    if body is not None:
        step.update(headers={"Content-Type": "application/json"}, body=body)
    r = by_id(send(service, {"requests": [step, create_step("ok", pid)]}))
    assert r["x"]["status"] == status, r["x"]
    assert r["x"]["body"]["error"]["code"] == code
    assert r["x"]["headers"]["Content-Type"] == GRAPH_CONTENT_TYPE
    assert r["ok"]["status"] == 201
    assert service.backend.row(pid) is not None


def test_inner_requests_use_the_batch_token_and_its_permissions(service, keys):
    """A read-only token opens the batch; its inner writes are 403 and its
    reads 200. An inner Authorization header is ignored."""
    a = new_id()
    read_only = keys.token(scp="DeviceManagementServiceConfig.Read.All")
    r = by_id(send(service, {"requests": [
        dict(create_step("w", a), headers={"Content-Type": "application/json",
                                           "Authorization": f"Bearer {keys.token()}"}),
        {"id": "r", "method": "GET", "url": PARTNERS + "?$top=1"},
    ]}, token=read_only))
    assert r["w"]["status"] == 403 and r["r"]["status"] == 200
    assert service.backend.row(a) is None


def test_an_inner_if_match_applies_to_its_own_request_only(service):
    a = new_id()
    r = by_id(send(service, {"requests": [
        create_step("1", a),
        {"id": "2", "method": "PATCH", "url": f"{PARTNERS}/{a}", "dependsOn": ["1"],
         "headers": {"Content-Type": "application/json", "If-Match": 'W/"nope"'},
         "body": {"displayName": "x"}},
    ]}, headers={"If-Match": 'W/"outer"'}))
    assert r["1"]["status"] == 201 and r["2"]["status"] == 412
    assert service.backend.row(a)["displayName"] == f"batch {a}"


# Bad batches: 400 naming the problem, and nothing runs.
def _many(n):
    return {"requests": [create_step(str(i), new_id()) for i in range(n)]}


BAD_BATCHES = [
    ("not json", "{", "Invalid JSON"),
    ("empty", "", "Empty Payload"),
    ("an array", [], "JSON object"),
    ("no requests", {"requests": []}, "non-empty array"),
    ("other member", {"requests": [create_step("1", "z")], "atomic": True}, "'atomic'"),
    ("21 requests", _many(21), "21 requests; at most 20"),
    ("duplicate ids", {"requests": [create_step("1", "p"), create_step("1", "q")]},
     "id '1'"),
    ("cycle", {"requests": [create_step("1", "p", dependsOn=["2"]),
                            create_step("2", "q", dependsOn=["1"])]}, "cycle"),
    ("self", {"requests": [create_step("1", "p", dependsOn=["1"])]}, "itself"),
    ("unknown id", {"requests": [create_step("1", "p", dependsOn=["9"])]}, "'9'"),
    ("nested", {"requests": [create_step("1", "p"),
                             {"id": "2", "method": "POST", "url": "/$batch",
                              "headers": {"Content-Type": "application/json"},
                              "body": {"requests": []}}]}, "$batch"),
    ("nested encoded", {"requests": [create_step("1", "p"),
                                     {"id": "2", "method": "GET", "url": "%24BATCH"}]},
     "$batch"),
    ("bad method", {"requests": [{"id": "1", "method": "TRACE", "url": PARTNERS}]},
     "method"),
    ("no url", {"requests": [{"id": "1", "method": "GET"}]}, "url"),
    ("body without type", {"requests": [{"id": "1", "method": "POST", "url": PARTNERS,
                                         "body": {"id": "p"}}]}, "Content-Type"),
    ("numeric id", {"requests": [{"id": 1, "method": "GET", "url": PARTNERS}]}, "id"),
    ("bad header", {"requests": [{"id": "1", "method": "GET", "url": PARTNERS,
                                  "headers": {"X-A": "a\r\nb"}}]}, "'X-A'"),
]


@pytest.mark.parametrize("name,body,needle", BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES])
def test_a_bad_batch_is_refused_whole_naming_the_problem(service, name, body, needle):
    with service.nothing_stored():
        err = assert_graph_error(send(service, body), 400, "BadRequest")
    assert needle in err["message"], err["message"]


def test_twenty_creates_run_and_a_batch_needs_a_token(service):
    body = _many(20)
    assert_graph_error(send(service, body, token=None), 401, "InvalidAuthenticationToken")
    r = by_id(send(service, body))
    assert sorted(s["status"] for s in r.values()) == [201] * 20


def test_batch_takes_post_only_and_json_only(service):
    resp = service.post(url=batch_url(service), method="GET")
    assert_graph_error(resp, 405, "MethodNotAllowed")
    resp = service.post(url=batch_url(service), data="requests=1",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_graph_error(resp, 415, "UnsupportedMediaType")


# ------------------------------------------------- httpd's access configuration

def _access_service(private_service, keys, access):
    jwks = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    return private_service("batch-access", locations=location_block(
        f"/v1.0{COLLECTION}", "v1.0", jwks, access), extra_config=(
        "LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so\n"))


# AH01630: authz_core's "client denied by server configuration"
@pytest.mark.expect_log("AH01630")
def test_require_ip_on_the_partners_refuses_the_batch_itself(private_service, keys):
    svc = _access_service(private_service, keys, "    Require ip 192.0.2.1")
    with svc.nothing_stored():
        assert_graph_error(send(svc, {"requests": [create_step("1", new_id())]}), 403,
                           "Forbidden")


@pytest.mark.expect_log("AH01630")
@pytest.mark.parametrize("access", [
    "    <Limit GET>\n        Require ip 192.0.2.1\n    </Limit>",
    "    Require method POST",
    "    <If \"%{REQUEST_METHOD} == 'GET'\">\n        Require ip 192.0.2.1\n    </If>",
])
def test_an_inner_request_meets_the_access_rules_of_its_own_method(private_service, keys,
                                                                   access):
    """The batch (a POST) passes; its inner GET must not pass on the batch's
    say-so, while its inner POST does."""
    svc = _access_service(private_service, keys, access)
    pid = new_id()
    r = by_id(send(svc, {"requests": [
        create_step("1", pid),
        {"id": "2", "method": "GET", "url": f"{PARTNERS}/{pid}", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": PARTNERS},
    ]}))
    assert r["1"]["status"] == 201
    assert r["2"]["status"] == 403 and r["3"]["status"] == 403
    assert r["2"]["body"]["error"]["code"] == "Forbidden"
    # the same GET sent alone is refused the same way
    assert svc.post(url=f"{svc.url()}/{pid}", method="GET").status_code == 403
