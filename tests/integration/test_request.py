"""Rejected requests: each gets a precise Graph error and stores nothing."""
import json
import socket

import pytest

from conftest import SEED_BETA, SEED_V1, STRICT_MAX_BODY, assert_graph_error


# What each route allows, as the dispatch table says: Allow, 405s and CORS
# preflights all come from it.
ROUTE_ALLOWS = [
    ("", "GET, POST, OPTIONS"),
    ("/$count", "GET, OPTIONS"),
    ("('abc')", "GET, PATCH, DELETE, OPTIONS"),
    ("/abc", "GET, PATCH, DELETE, OPTIONS"),
    ("/abc/beginOnboarding", "POST, OPTIONS"),
    ("('abc')/microsoft.graph.disconnect", "POST, OPTIONS"),
]


NOT_ALLOWED = [(suffix, allow, method) for suffix, allow in ROUTE_ALLOWS
               for method in ("GET", "PUT", "PATCH", "DELETE", "POST", "TRACE", "FOO")
               if method not in allow.split(", ")]


def route_url(service, suffix):
    return service.url() + suffix


@pytest.mark.parametrize("suffix,allow,method", NOT_ALLOWED)
def test_methods_a_route_does_not_take_are_405_with_its_allow(service, suffix, allow, method):
    with service.nothing_stored():
        resp = service.post(SEED_V1, method=method, url=route_url(service, suffix))
    err = assert_graph_error(resp, 405, "MethodNotAllowed")
    assert method in err["message"]
    assert resp.headers["Allow"] == allow


def test_head_of_a_write_only_route_is_405_without_body(service):
    resp = service.post(method="HEAD", url=route_url(service, "/abc/disconnect"))
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "POST, OPTIONS"
    assert resp.content == b""


def test_method_is_checked_before_the_token(service):
    assert_graph_error(service.post(method="PUT", token=None), 405, "MethodNotAllowed")


@pytest.mark.parametrize("suffix,allow", ROUTE_ALLOWS)
def test_options_answers_a_cors_preflight_without_token(service, suffix, allow):
    resp = service.post(method="OPTIONS", token=None, url=route_url(service, suffix), headers={
        "Origin": "https://admin.contoso.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
        "Content-Type": None})
    assert resp.status_code == 204
    assert resp.headers["Allow"] == allow
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Access-Control-Allow-Methods"] == allow
    assert resp.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    assert resp.content == b""


def test_cross_origin_post_is_readable(service):
    resp = service.post(SEED_V1, headers={"Origin": "https://admin.contoso.com"})
    assert resp.status_code == 201
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Location" in resp.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize("suffix", ["('abc')/x", "/a%20b", "/$metadata"])
def test_paths_that_name_no_resource_are_404(service, suffix):
    url = service.url() + (suffix if suffix.startswith("/") else "/" + suffix)
    with service.nothing_stored():
        resp = service.post(SEED_V1, url=url)
    assert_graph_error(resp, 404, "ResourceNotFound")


@pytest.mark.parametrize("suffix", ["/abc/x", "/abc/beginOnboarding/x", "/$count/x",
                                    "/abc/$value"])
def test_segments_a_resource_does_not_have_are_400(service, suffix):
    """Graph: 400 BadRequest "Resource not found for the segment '...'"."""
    with service.nothing_stored():
        resp = service.post(SEED_V1, url=service.url() + suffix)
    err = assert_graph_error(resp, 400, "BadRequest")
    assert err["message"].startswith("Resource not found for the segment '")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml",
                                          "application/json; charset=iso-8859-1",
                                          "application/jsonp", "multipart/form-data"])
def test_non_json_content_type_is_415(service, content_type):
    with service.nothing_stored():
        resp = service.post(SEED_V1, headers={"Content-Type": content_type})
    assert_graph_error(resp, 415, "UnsupportedMediaType")


@pytest.mark.parametrize("accept", ["text/html", "application/xml, text/plain",
                                    "application/json;q=0", "image/*",
                                    "*/*, application/json;q=0"])
def test_accept_excluding_json_is_406(service, accept):
    with service.nothing_stored():
        resp = service.post(SEED_V1, headers={"Accept": accept})
    assert_graph_error(resp, 406, "NotAcceptable")


def test_body_over_the_limit_is_413_by_content_length(service):
    body = dict(SEED_V1, displayName="x" * 70000)  # default RemoteAssistMaxBody 65536
    with service.nothing_stored():
        resp = service.post(body)
    err = assert_graph_error(resp, 413, "RequestEntityTooLarge")
    assert "65536" in err["message"]


def test_body_over_the_limit_is_413_when_chunked(service):
    data = json.dumps(dict(SEED_V1, displayName="x" * 70000)).encode()
    with service.nothing_stored():
        resp = service.post(data=iter([data[i:i + 4096] for i in range(0, len(data), 4096)]))
    assert_graph_error(resp, 413, "RequestEntityTooLarge")


def test_configured_body_limit_applies(service):
    strict = service.keys.token(aud="api://contoso-remoteassist",
                                iss="https://issuer.example/contoso/")
    small = {"displayName": "ok"}
    assert service.post(small, prefix="/strict", token=strict).status_code == 201
    with service.nothing_stored():
        resp = service.post({"displayName": "x" * STRICT_MAX_BODY}, prefix="/strict",
                            token=strict)
    assert_graph_error(resp, 413, "RequestEntityTooLarge")


def test_body_exactly_at_the_limit_is_read(service):
    strict = service.keys.token(aud="api://contoso-remoteassist",
                                iss="https://issuer.example/contoso/")
    data = json.dumps({"displayName": "y"})
    data = data[:-1] + " " * (STRICT_MAX_BODY - len(data)) + "}"
    assert len(data) == STRICT_MAX_BODY
    assert service.post(data=data, prefix="/strict", token=strict).status_code == 201


def test_empty_body_is_400(service):
    with service.nothing_stored():
        resp = service.post(data="")
    err = assert_graph_error(resp, 400, "BadRequest")
    assert "Empty Payload" in err["message"]


@pytest.mark.parametrize("data,where", [
    ('{"displayName": "x",}', "line 1"),
    ('{\n  "displayName": "x"\n  "onboardingUrl": "y"\n}', "line 3"),
    ("not json", "line 1"),
    ('{"displayName": "x"', "line 1"),
    ('{"displayName": "x"} trailing', "line 1"),
])
def test_malformed_json_is_400_saying_where(service, data, where):
    with service.nothing_stored():
        resp = service.post(data=data)
    err = assert_graph_error(resp, 400, "BadRequest")
    assert err["message"].startswith("Invalid JSON at " + where), err["message"]
    assert "column" in err["message"]


@pytest.mark.parametrize("data", ["[]", '"text"', "42", "null", "true",
                                  json.dumps([SEED_V1])])
def test_json_that_is_not_an_object_is_400(service, data):
    with service.nothing_stored():
        resp = service.post(data=data)
    err = assert_graph_error(resp, 400, "BadRequest")
    assert "JSON object" in err["message"]


def test_duplicate_member_is_400(service):
    with service.nothing_stored():
        resp = service.post(data='{"displayName": "a", "displayName": "b"}')
    assert "duplicate" in assert_graph_error(resp, 400, "BadRequest")["message"]


def test_invalid_utf8_is_400(service):
    with service.nothing_stored():
        resp = service.post(data=b'{"displayName": "\xff\xfe"}')
    assert_graph_error(resp, 400, "BadRequest")


def test_nul_character_is_400(service):
    with service.nothing_stored():
        resp = service.post(data='{"displayName": "a\\u0000b"}')
    assert_graph_error(resp, 400, "BadRequest")


def test_deep_nesting_is_400_not_a_crash(service):
    with service.nothing_stored():
        resp = service.post(data='{"displayName": ' + "[" * 5000 + "]" * 5000 + "}")
    assert_graph_error(resp, 400, "BadRequest")


INVALID_BODIES = [
    ({"foo": "bar"}, "foo"),
    ({"DisplayName": "x"}, "DisplayName"),
    ({"onboardingRequestExpiryDateTime": "2017-01-01T00:02:07Z"},
     "onboardingRequestExpiryDateTime"),
    ({"foo@odata.type": "String"}, "foo"),
    ({"@odata.type": "#microsoft.graph.deviceManagement"}, "@odata.type"),
    ({"@odata.type": 1}, "@odata.type"),
    ({"id": None}, "id"),
    ({"id": 42}, "id"),
    ({"id": ""}, "id"),
    ({"id": "has space"}, "id"),
    ({"id": "quote'in"}, "id"),
    ({"id": "x" * 129}, "id"),
    ({"displayName": 5}, "displayName"),
    ({"displayName": ["a"]}, "displayName"),
    ({"displayName": {"a": 1}}, "displayName"),
    ({"displayName": True}, "displayName"),
    ({"displayName": "x" * 257}, "displayName"),
    ({"onboardingUrl": 1.5}, "onboardingUrl"),
    ({"onboardingUrl": "u" * 2049}, "onboardingUrl"),
    ({"onboardingStatus": "Onboarding"}, "onboardingStatus"),
    ({"onboardingStatus": ""}, "onboardingStatus"),
    ({"onboardingStatus": 1}, "onboardingStatus"),
    ({"lastConnectionDateTime": "2016-12-31T23:58:36.66700331-08:00"}, "lastConnectionDateTime"),
    ({"lastConnectionDateTime": "2016-12-31T23:58:36"}, "lastConnectionDateTime"),
    ({"lastConnectionDateTime": "2017-02-29T00:00:00Z"}, "lastConnectionDateTime"),
    ({"lastConnectionDateTime": "2016-12-31 23:58:36Z"}, "lastConnectionDateTime"),
    ({"lastConnectionDateTime": "2016-12-31T23:58:36+15:00"}, "lastConnectionDateTime"),
    ({"lastConnectionDateTime": 1483257516}, "lastConnectionDateTime"),
]


@pytest.mark.parametrize("body,prop", INVALID_BODIES, ids=[p for _, p in INVALID_BODIES])
def test_invalid_property_is_400_naming_it(service, body, prop):
    with service.nothing_stored():
        resp = service.post(dict(SEED_V1, **body))
    err = assert_graph_error(resp, 400, "BadRequest")
    assert f"'{prop}'" in err["message"], err["message"]


def test_beta_datetime_is_validated(service):
    with service.nothing_stored():
        resp = service.post(dict(SEED_BETA, onboardingRequestExpiryDateTime="tomorrow"),
                            version="beta")
    err = assert_graph_error(resp, 400, "BadRequest")
    assert "'onboardingRequestExpiryDateTime'" in err["message"]


def test_long_unicode_within_limits_is_counted_in_characters(service):
    resp = service.post({"displayName": "\u00e9" * 256})
    assert resp.status_code == 201, resp.text
    with service.nothing_stored():
        assert_graph_error(service.post({"displayName": "\u00e9" * 257}), 400, "BadRequest")


def test_keep_alive_survives_errors(service):
    """A rejected request leaves the connection usable for the next one."""
    sock = socket.create_connection(("127.0.0.1", service.httpd.port), timeout=10)
    body = json.dumps(SEED_V1)
    token = service.keys.token()
    requests_ = ["PUT /v1.0/deviceManagement/remoteAssistancePartners HTTP/1.1\r\n"
                 "Host: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
                 f"POST /v1.0/deviceManagement/remoteAssistancePartners HTTP/1.1\r\n"
                 f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"]
    statuses = []
    with sock:
        f = sock.makefile("rb")
        for raw in requests_:
            sock.sendall(raw.encode())
            status = f.readline().split()[1]
            length = 0
            while True:
                line = f.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            f.read(length)
            statuses.append(int(status))
    assert statuses == [405, 201]
