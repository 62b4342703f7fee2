"""The resource's operations as Graph defines them, on SQLite and PostgreSQL:
get, list, $count, update, delete, beginOnboarding and disconnect, with
ETags, If-Match and per-operation permissions. Every refused write checks
that nothing changed."""
import datetime

import pytest

from conftest import GRAPH_CONTENT_TYPE, MSA_TENANT, SEED_BETA, SEED_V1, assert_graph_error
from graph_calls import BETA_APP_READ, KEY_FORMS, READ, WRITE, Caller

ENTITY_CONTEXT = "/$metadata#deviceManagement/remoteAssistancePartners/$entity"
COLLECTION_CONTEXT = "/$metadata#deviceManagement/remoteAssistancePartners"
UNSET = "0001-01-01T00:00:00Z"


@pytest.fixture
def caller(service):
    return Caller(service)


def stored(service, pid):
    return service.backend.row(pid)


# ------------------------------------------------------------------- ids

# Every shape of id the module accepts, each to be read, changed and deleted
# in both the key-as-segment and the parenthesised form.
ACCEPTED_IDS = ["x", "Az09-._~", "...", ".a", "a.", "..a", "~", "-", "_",
                "beginOnboarding", "microsoft.graph.disconnect", "a" * 128]


@pytest.mark.parametrize("form", ["segment", "key"])
@pytest.mark.parametrize("pid", ACCEPTED_IDS)
def test_every_accepted_id_round_trips_in_both_url_forms(caller, pid, form):
    created = caller.create(id=pid, displayName="before")
    assert created["id"] == pid
    resp = caller.get(pid, form)
    assert resp.status_code == 200, resp.text
    assert resp.json() == created
    resp = caller.patch(pid, {"displayName": "after"}, form)
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == pid and resp.json()["displayName"] == "after"
    assert stored(caller.service, pid)["displayName"] == "after"
    resp = caller.delete(pid, form)
    assert resp.status_code == 204, resp.text
    assert stored(caller.service, pid) is None


# "." and "..": dot-segments, which httpd removes from a path before the
# module sees it (.../remoteAssistancePartners/. would be the collection).
@pytest.mark.parametrize("pid", [".", "..", "", "a/b", "a b", "a" * 129])
def test_an_id_no_url_can_name_is_refused_and_stores_nothing(caller, pid):
    with caller.service.nothing_stored():
        err = assert_graph_error(caller.request("POST", body={"id": pid}), 400, "BadRequest")
    assert "'id'" in err["message"]


# ------------------------------------------------------------------- get

@pytest.mark.parametrize("form", sorted(KEY_FORMS))
def test_get_answers_the_created_entity_in_every_key_form(caller, form):
    created = caller.create(**{k: v for k, v in SEED_V1.items() if not k.startswith("@")})
    resp = caller.get(created["id"], form)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == GRAPH_CONTENT_TYPE
    body = resp.json()
    assert body == created
    assert body["@odata.context"] == caller.service.httpd.base + "/v1.0" + ENTITY_CONTEXT
    assert resp.headers["ETag"] == body["@odata.etag"]


def test_the_location_of_a_201_can_be_read(caller):
    resp = caller.request("POST", body=SEED_V1)
    assert resp.status_code == 201
    again = caller.request("GET", url=resp.headers["Location"])
    assert again.status_code == 200, again.text
    assert again.json()["id"] == resp.json()["id"]


def test_get_in_beta_shows_the_beta_property(service):
    beta = Caller(service, version="beta")
    created = beta.create(**{k: v for k, v in SEED_BETA.items() if not k.startswith("@")})
    v1 = Caller(service, tenant=beta.tenant)
    assert "onboardingRequestExpiryDateTime" not in v1.get(created["id"]).json()
    assert beta.get(created["id"]).json()["onboardingRequestExpiryDateTime"] == \
        SEED_BETA["onboardingRequestExpiryDateTime"]


@pytest.mark.parametrize("suffix,status,code", [
    ("/no-such-id", 404, "ResourceNotFound"),
    ("('no-such-id')", 404, "ResourceNotFound"),
    ("('a b')", 404, "ResourceNotFound"),
    ("('unclosed", 400, "BadRequest"),
    ("(unquoted)", 400, "BadRequest"),
    ("('x'", 400, "BadRequest"),
])
def test_get_of_no_entity(caller, suffix, status, code):
    assert_graph_error(caller.request("GET", suffix), status, code)


def test_get_with_select_names_the_properties_in_the_context(caller):
    pid = caller.create(displayName="x")["id"]
    resp = caller.get(pid, params={"$select": "displayName,onboardingStatus"})
    body = resp.json()
    assert body["@odata.context"].endswith(
        "#deviceManagement/remoteAssistancePartners(displayName,onboardingStatus)/$entity")
    assert {k for k in body if not k.startswith("@")} == {"displayName", "onboardingStatus"}


# ------------------------------------------------------------ list, count

def test_list_answers_the_tenants_partners(caller):
    ids = {caller.create(displayName=f"p{i}")["id"] for i in range(3)}
    resp = caller.list()
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert page["@odata.context"] == caller.service.httpd.base + "/v1.0" + COLLECTION_CONTEXT
    assert {e["id"] for e in page["value"]} == ids
    for entity in page["value"]:
        assert "@odata.context" not in entity
        assert entity["@odata.type"] == "#microsoft.graph.remoteAssistancePartner"
        assert entity["@odata.etag"].startswith('W/"')
    assert "@odata.nextLink" not in page


def test_list_of_a_tenant_without_partners_is_empty(caller):
    assert caller.list().json()["value"] == []
    assert caller.count().text == "0"


def test_count_is_a_plain_integer(caller):
    for _ in range(4):
        caller.create()
    resp = caller.count()
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text == "4"


def test_count_refuses_an_accept_without_text_plain(caller):
    resp = caller.request("GET", "/$count", headers={"Accept": "application/json"})
    assert_graph_error(resp, 406, "NotAcceptable")


# ---------------------------------------------------------------- update

def test_patch_changes_only_what_it_names_and_answers_the_entity(caller):
    created = caller.create(displayName="before", onboardingUrl="https://a.example/",
                            onboardingStatus="onboarded")
    resp = caller.patch(created["id"], {"displayName": "after"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["displayName"] == "after"
    assert body["onboardingUrl"] == "https://a.example/"
    assert body["onboardingStatus"] == "onboarded"
    assert body["@odata.context"].endswith(ENTITY_CONTEXT)
    assert body["@odata.etag"] != created["@odata.etag"]
    assert resp.headers["ETag"] == body["@odata.etag"]
    assert caller.get(created["id"]).json() == body
    assert stored(caller.service, created["id"])["displayName"] == "after"


def test_patch_may_null_a_nullable_property(caller):
    pid = caller.create(displayName="x")["id"]
    resp = caller.patch(pid, {"displayName": None})
    assert resp.status_code == 200
    assert resp.json()["displayName"] is None


def test_patch_with_prefer_minimal_is_204_with_the_new_etag(caller):
    pid = caller.create(displayName="x")["id"]
    resp = caller.patch(pid, {"displayName": "y"}, headers={"Prefer": "return=minimal"})
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers["Preference-Applied"] == "return=minimal"
    assert resp.headers["ETag"] == caller.get(pid).json()["@odata.etag"]


@pytest.mark.parametrize("body,status,code,words", [
    ({"onboardingStatus": None}, 400, "BadRequest", ["onboardingStatus", "null"]),
    ({"lastConnectionDateTime": None}, 400, "BadRequest", ["lastConnectionDateTime"]),
    ({"onboardingStatus": "Onboarded"}, 400, "BadRequest", ["onboardingStatus"]),
    ({"id": "another-id"}, 400, "BadRequest", ["id"]),
    ({"notAProperty": 1}, 400, "BadRequest", ["notAProperty"]),
    ({"displayName": 5}, 400, "BadRequest", ["displayName"]),
    ({"onboardingRequestExpiryDateTime": "2017-01-01T00:02:07Z"}, 400, "BadRequest",
     ["onboardingRequestExpiryDateTime"]),
])
def test_refused_patch_changes_nothing(caller, body, status, code, words):
    pid = caller.create(displayName="kept", onboardingStatus="onboarding")["id"]
    before = stored(caller.service, pid)
    err = assert_graph_error(caller.patch(pid, body), status, code)
    for word in words:
        assert word in err["message"], err
    assert stored(caller.service, pid) == before


@pytest.mark.parametrize("data,content_type,status", [
    ("{bad", "application/json", 400),
    ("[]", "application/json", 400),
    ("", "application/json", 400),
    ('{"displayName": "x"}', "text/plain", 415),
])
def test_patch_bodies_are_checked_like_creates(caller, data, content_type, status):
    pid = caller.create(displayName="kept")["id"]
    before = stored(caller.service, pid)
    resp = caller.request("PATCH", url=caller.entity_url(pid), data=data,
                          headers={"Content-Type": content_type})
    assert resp.status_code == status, resp.text
    assert stored(caller.service, pid) == before


def test_patch_of_an_unknown_id_is_404_and_creates_nothing(caller):
    with caller.service.nothing_stored():
        assert_graph_error(caller.patch("no-such-id", {"displayName": "x"}), 404,
                           "ResourceNotFound")


def test_patch_keeps_the_id_when_the_body_repeats_it(caller):
    pid = caller.create()["id"]
    assert caller.patch(pid, {"id": pid, "displayName": "y"}).status_code == 200


# --------------------------------------------------------------- if-match

def test_if_match_guards_patch(caller):
    created = caller.create(displayName="v1")
    pid, etag = created["id"], created["@odata.etag"]
    assert caller.patch(pid, {"displayName": "v2"}, headers={"If-Match": etag}).status_code == 200
    before = stored(caller.service, pid)
    stale = caller.patch(pid, {"displayName": "v3"}, headers={"If-Match": etag})
    assert_graph_error(stale, 412, "PreconditionFailed")
    assert stored(caller.service, pid) == before
    assert caller.patch(pid, {"displayName": "v4"}, headers={"If-Match": "*"}).status_code == 200
    current = caller.get(pid).json()["@odata.etag"]
    resp = caller.patch(pid, {"displayName": "v5"},
                        headers={"If-Match": f'"nope", {current}'})
    assert resp.status_code == 200


@pytest.mark.parametrize("if_match", ['W/"0000"', '"0000"', "garbage", ""])
def test_if_match_that_names_no_current_version_is_412(caller, if_match):
    pid = caller.create(displayName="x")["id"]
    for resp in (caller.patch(pid, {"displayName": "y"}, headers={"If-Match": if_match}),
                 caller.action(pid, "beginOnboarding", headers={"If-Match": if_match}),
                 caller.delete(pid, headers={"If-Match": if_match})):
        assert_graph_error(resp, 412, "PreconditionFailed")
    assert stored(caller.service, pid)["displayName"] == "x"
    assert stored(caller.service, pid)["onboardingStatus"] == "notOnboarded"


# ---------------------------------------------------------------- delete

@pytest.mark.parametrize("form", sorted(KEY_FORMS))
def test_delete_removes_the_entity(caller, form):
    pid = caller.create()["id"]
    resp = caller.delete(pid, form)
    assert resp.status_code == 204 and resp.content == b""
    assert stored(caller.service, pid) is None
    assert_graph_error(caller.get(pid), 404, "ResourceNotFound")
    assert_graph_error(caller.delete(pid, form), 404, "ResourceNotFound")


def test_delete_with_the_current_etag(caller):
    created = caller.create()
    assert caller.delete(created["id"],
                         headers={"If-Match": created["@odata.etag"]}).status_code == 204


def test_delete_with_a_body_is_400_and_deletes_nothing(caller):
    pid = caller.create()["id"]
    resp = caller.request("DELETE", url=caller.entity_url(pid), data='{"x": 1}')
    assert_graph_error(resp, 400, "BadRequest")
    assert stored(caller.service, pid) is not None


# --------------------------------------------------------------- actions

def test_begin_onboarding_then_disconnect(service):
    beta = Caller(service, version="beta")
    v1 = Caller(service, tenant=beta.tenant)
    pid = beta.create(displayName="x")["id"]
    before = datetime.datetime.now(datetime.timezone.utc)
    resp = v1.action(pid, "beginOnboarding")
    assert resp.status_code == 204 and resp.content == b""
    assert v1.get(pid).json()["onboardingStatus"] == "onboarding"
    expiry = beta.get(pid).json()["onboardingRequestExpiryDateTime"]
    expires = datetime.datetime.fromisoformat(expiry.replace("Z", "+00:00")[:26] + "+00:00")
    # the default RemoteAssistOnboardingWindow: one hour
    assert abs((expires - before).total_seconds() - 3600) < 60, expiry
    resp = beta.action(pid, "microsoft.graph.disconnect", form="key")
    assert resp.status_code == 204
    entity = beta.get(pid).json()
    assert entity["onboardingStatus"] == "notOnboarded"
    assert entity["onboardingRequestExpiryDateTime"] == UNSET


@pytest.mark.parametrize("name", ["beginOnboarding", "disconnect", "BEGINONBOARDING"])
def test_action_takes_no_body(caller, name):
    pid = caller.create()["id"]
    assert caller.action(pid, name, data="{}").status_code == 204
    before = stored(caller.service, pid)
    # a NUL first must not pass for the end of an empty body
    for body in ('{"displayName": "x"}', '\0{"displayName": "x"}', " \0 "):
        assert_graph_error(caller.action(pid, name, data=body), 400, "BadRequest")
    assert stored(caller.service, pid) == before


@pytest.mark.parametrize("name", ["beginOnboarding", "disconnect"])
def test_action_on_an_unknown_id_is_404(caller, name):
    with caller.service.nothing_stored():
        assert_graph_error(caller.action("no-such-id", name), 404, "ResourceNotFound")


def test_actions_change_the_etag(caller):
    created = caller.create()
    caller.action(created["id"], "beginOnboarding")
    assert caller.get(created["id"]).json()["@odata.etag"] != created["@odata.etag"]


# ----------------------------------------------------------- permissions

OPERATIONS = {  # name: (access, request maker)
    "list": ("read", lambda c, pid: c.list()),
    "count": ("read", lambda c, pid: c.count()),
    "get": ("read", lambda c, pid: c.get(pid)),
    "create": ("write", lambda c, pid: c.request("POST", body={})),
    "update": ("write", lambda c, pid: c.patch(pid, {"displayName": "changed"})),
    "delete": ("write", lambda c, pid: c.delete(pid)),
    "beginOnboarding": ("write", lambda c, pid: c.action(pid, "beginOnboarding")),
    "disconnect": ("write", lambda c, pid: c.action(pid, "disconnect")),
}

GRANTS = [  # (name, version, claims, may read, may write)
    ("delegated Read.All", "v1.0", {"scp": READ}, True, False),
    ("delegated ReadWrite.All", "v1.0", {"scp": f"User.Read {WRITE}"}, True, True),
    ("application Read.All", "v1.0", {"scp": None, "roles": [READ]}, True, False),
    ("application ReadWrite.All", "beta", {"scp": None, "roles": [WRITE]}, True, True),
    ("application beta read role on beta", "beta", {"scp": None, "roles": [BETA_APP_READ]},
     True, False),
    ("application beta read role on v1.0", "v1.0", {"scp": None, "roles": [BETA_APP_READ]},
     False, False),
    ("delegated beta read role", "beta", {"scp": BETA_APP_READ}, False, False),
    ("delegated with roles only", "v1.0", {"scp": "User.Read", "roles": [WRITE]}, False, False),
]


@pytest.mark.parametrize("grant,version,claims,may_read,may_write", GRANTS,
                         ids=[g[0] for g in GRANTS])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_permissions_per_operation(service, operation, grant, version, claims, may_read,
                                   may_write):
    access, call = OPERATIONS[operation]
    owner = Caller(service, version=version)
    pid = owner.create(displayName="original")["id"]
    caller = Caller(service, tenant=owner.tenant, version=version, **claims)
    before = service.backend.rows()
    resp = call(caller, pid)
    allowed = may_read if access == "read" else may_write
    if allowed:
        assert resp.status_code < 300, resp.text
        return
    assert_graph_error(resp, 403, "Authorization_RequestDenied")
    needed = READ if access == "read" else WRITE
    assert f'scope="{needed}"' in resp.headers["WWW-Authenticate"]
    assert service.backend.rows() == before


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_personal_accounts_are_refused_everywhere(service, operation):
    caller = Caller(service, tenant=MSA_TENANT)
    with service.nothing_stored():
        assert_graph_error(OPERATIONS[operation][1](caller, "x"), 403,
                           "Authorization_RequestDenied")


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_token_without_tid_is_401(service, operation):
    caller = Caller(service)
    caller.claims["tid"] = None
    with service.nothing_stored():
        resp = OPERATIONS[operation][1](caller, "x")
    err = assert_graph_error(resp, 401, "InvalidAuthenticationToken")
    assert "tid" in err["message"]
