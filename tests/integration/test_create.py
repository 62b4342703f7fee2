"""Successful creates, on SQLite and PostgreSQL: the seed's examples, the 201's
headers and body, ids, and what is stored."""
import time
import uuid

import pytest

from conftest import GRAPH_CONTENT_TYPE, SEED_BETA, SEED_V1, assert_graph_error

# The seeds' example responses (002_* for v1.0, 004_* for beta), verbatim.
SEED_RESPONSE_V1 = {
    "@odata.type": "#microsoft.graph.remoteAssistancePartner",
    "id": "7443c8b9-c8b9-7443-b9c8-4374b9c84374",
    "displayName": "Display Name value",
    "onboardingUrl": "https://example.com/onboardingUrl/",
    "onboardingStatus": "onboarding",
    "lastConnectionDateTime": "2016-12-31T23:58:36.6670033-08:00",
}
SEED_RESPONSE_BETA = dict(SEED_RESPONSE_V1,
                          onboardingRequestExpiryDateTime="2017-01-01T00:02:07.7573274-08:00")


@pytest.mark.parametrize("version,request_body,expected", [
    ("v1.0", SEED_V1, SEED_RESPONSE_V1),
    ("beta", SEED_BETA, SEED_RESPONSE_BETA),
])
def test_seed_example_answers_like_the_seed_response(service, version, request_body, expected):
    resp = service.post(request_body, version=version)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    context = body.pop("@odata.context")
    assert context == (f"{service.httpd.base}/{version}/$metadata"
                       "#deviceManagement/remoteAssistancePartners/$entity")
    new_id = body.pop("id")
    # a time-ordered GUID (version 7): its first 48 bits are the creation's
    # Unix time in milliseconds, so new rows append to the key's index
    made = uuid.UUID(new_id)
    assert new_id == str(made) and made.version == 7, new_id
    assert abs((made.int >> 80) / 1000 - time.time()) < 300, new_id
    etag = body.pop("@odata.etag")
    assert etag == resp.headers["ETag"] and etag.startswith('W/"')
    expected = {k: v for k, v in expected.items() if k != "id"}
    assert body == expected
    # documented order: annotations, then id, then the properties
    assert list(resp.json()) == (["@odata.context", "@odata.type", "@odata.etag", "id"]
                                 + list(expected)[1:])
    row = service.backend.row(new_id)
    assert row["apiVersion"] == version
    for prop, value in expected.items():
        if not prop.startswith("@"):
            assert row[prop] == value


def test_created_response_headers(service):
    resp = service.post(SEED_V1)
    assert resp.status_code == 201
    new_id = resp.json()["id"]
    assert resp.headers["Location"] == (f"{service.httpd.base}/v1.0/deviceManagement/"
                                        f"remoteAssistancePartners('{new_id}')")
    assert resp.headers["OData-Version"] == "4.0"
    assert resp.headers["Content-Type"] == GRAPH_CONTENT_TYPE
    request_id = resp.headers["request-id"]
    assert str(uuid.UUID(request_id)) == request_id
    # without a client-request-id, Graph answers with the request-id
    assert resp.headers["client-request-id"] == request_id
    assert int(resp.headers["Content-Length"]) == len(resp.content)


def test_client_request_id_is_echoed_and_request_ids_are_fresh(service):
    client_id = str(uuid.uuid4())
    first = service.post(SEED_V1, headers={"client-request-id": client_id})
    second = service.post(SEED_V1, headers={"client-request-id": client_id})
    assert first.headers["client-request-id"] == client_id
    assert second.headers["client-request-id"] == client_id
    assert first.headers["request-id"] != second.headers["request-id"]


def test_unusable_client_request_id_is_not_echoed(service):
    resp = service.post(SEED_V1, headers={"client-request-id": "x" * 300})
    assert resp.status_code == 201
    assert resp.headers["client-request-id"] == resp.headers["request-id"]


def test_supplied_id_is_kept_and_a_taken_id_conflicts(service):
    pid = f"partner-{uuid.uuid4()}"
    first = service.post(dict(SEED_V1, id=pid, displayName="first"))
    assert first.status_code == 201
    assert first.json()["id"] == pid
    assert first.headers["Location"].endswith(f"remoteAssistancePartners('{pid}')")
    with service.nothing_stored():
        second = service.post(dict(SEED_V1, id=pid, displayName="second"))
    err = assert_graph_error(second, 409, "Conflict")
    assert pid in err["message"]
    assert service.backend.row(pid)["displayName"] == "first"


def test_same_id_conflicts_across_versions(service):
    pid = str(uuid.uuid4())
    assert service.post({"id": pid}, version="beta").status_code == 201
    with service.nothing_stored():
        assert_graph_error(service.post({"id": pid}, version="v1.0"), 409, "Conflict")


def test_generated_ids_are_unique(service):
    ids = {service.post(SEED_V1).json()["id"] for _ in range(25)}
    assert len(ids) == 25


def test_minimal_body_takes_intunes_defaults_for_non_nullable_properties(service):
    """Graph's metadata makes the status and the date-times Nullable="false":
    a create without them gets what Intune answers for values never set."""
    resp = service.post({})
    assert resp.status_code == 201
    body = resp.json()
    assert body["@odata.type"] == "#microsoft.graph.remoteAssistancePartner"
    assert body["displayName"] is None and body["onboardingUrl"] is None
    assert body["onboardingStatus"] == "notOnboarded"
    assert body["lastConnectionDateTime"] == "0001-01-01T00:00:00Z"
    assert "onboardingRequestExpiryDateTime" not in body
    row = service.backend.row(body["id"])
    assert row["displayName"] is None and row["onboardingStatus"] == "notOnboarded"


def test_beta_minimal_body_includes_beta_property(service):
    body = service.post({}, version="beta").json()
    assert body["onboardingRequestExpiryDateTime"] == "0001-01-01T00:00:00Z"


@pytest.mark.parametrize("prop", ["onboardingStatus", "lastConnectionDateTime"])
def test_null_for_a_non_nullable_property_is_400(service, prop):
    with service.nothing_stored():
        err = assert_graph_error(service.post({prop: None}), 400, "BadRequest")
    assert f"'{prop}'" in err["message"] and "null" in err["message"]


def test_explicit_nulls_and_unicode_are_stored_as_sent(service):
    name = "Télé-assistance \u2603 \U0001F600 \"quoted\" \\ back"
    resp = service.post({"displayName": name, "onboardingUrl": None,
                         "onboardingStatus": "notOnboarded",
                         "lastConnectionDateTime": "2024-02-29T00:00Z"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["displayName"] == name
    assert body["onboardingUrl"] is None
    assert body["lastConnectionDateTime"] == "2024-02-29T00:00Z"
    row = service.backend.row(body["id"])
    assert row["displayName"] == name
    assert row["onboardingUrl"] is None


def test_instance_annotations_other_than_type_are_ignored(service):
    resp = service.post(dict(SEED_V1, **{"@odata.context": "whatever",
                                         "displayName@odata.type": "String"}))
    assert resp.status_code == 201, resp.text
    assert resp.json()["displayName"] == "Display Name value"


@pytest.mark.parametrize("status", ["notOnboarded", "onboarding", "onboarded"])
def test_every_onboarding_status_is_accepted(service, status):
    resp = service.post({"onboardingStatus": status})
    assert resp.status_code == 201
    assert service.backend.row(resp.json()["id"])["onboardingStatus"] == status


def test_accept_variants_that_admit_json(service):
    for accept in ("application/json", "application/json;odata.metadata=minimal",
                   "*/*", "text/html, application/*;q=0.2"):
        assert service.post(SEED_V1, headers={"Accept": accept}).status_code == 201, accept


def test_content_type_with_utf8_charset_is_accepted(service):
    resp = service.post(SEED_V1, headers={"Content-Type": "application/json; charset=UTF-8"})
    assert resp.status_code == 201


def test_chunked_request_body_is_read(service):
    import json

    def chunks():
        data = json.dumps(SEED_V1).encode()
        for i in range(0, len(data), 7):
            yield data[i:i + 7]
    resp = service.post(data=chunks())
    assert resp.status_code == 201, resp.text
    assert resp.json()["displayName"] == "Display Name value"


def test_trailing_slash_on_the_collection(service):
    resp = service.post(SEED_V1, url=service.url() + "/")
    assert resp.status_code == 201
    assert resp.json()["@odata.context"].startswith(f"{service.httpd.base}/v1.0/$metadata")
