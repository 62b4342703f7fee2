"""Audit events (issue 17 part 2), on SQLite and PostgreSQL: every successful
change writes exactly one auditEvent in its own transaction, readable at
{root}/deviceManagement/auditEvents as Intune serves it; refused and failed
requests write none; tenants are kept apart; retention removes only what is
older."""
import datetime
import time
import uuid

import pytest

from conftest import COLLECTION, assert_graph_error, children_db, location_block
from graph_calls import WRITE, Caller

AUDIT_READ = "DeviceManagementApps.Read.All"
AUDIT_PATH = "/deviceManagement/auditEvents"
EVENT_ROWS = "SELECT COUNT(*) FROM remoteassist_audit_events"


class Auditor(Caller):
    """A tenant's caller that changes partners and reads the audit log."""

    def __init__(self, service, **claims):
        claims.setdefault("scp", f"{WRITE} {AUDIT_READ}")
        super().__init__(service, **claims)
        self.upn = f"admin-{self.tenant[:8]}@contoso.example"
        self.claims.setdefault("upn", self.upn)

    def audit_url(self, suffix=""):
        return f"{self.service.httpd.base}/{self.version}{AUDIT_PATH}{suffix}"

    def audit(self, suffix="", **params):
        return self.request("GET", url=self.audit_url(suffix), params=params or None)

    def events(self, **params):
        resp = self.audit(**params)
        assert resp.status_code == 200, resp.text
        return resp.json()["value"]

    def event_of(self, correlation):
        # an Edm.Guid: OData's unquoted literal
        found = self.events(**{"$filter": f"correlationId eq {correlation}"})
        assert len(found) == 1, found
        return found[0]


def stored_events(service, tenant):
    rows = service.backend.rows(
        f"SELECT id FROM remoteassist_audit_events WHERE tenant_id = '{tenant}'")
    return len(rows)


def modified(event):
    return {p["displayName"]: (p["oldValue"], p["newValue"])
            for p in event["resources"][0]["modifiedProperties"]}


def expect_event(event, caller, activity, operation, pid, display_name):
    assert event["@odata.type"] == "#microsoft.graph.auditEvent"
    assert event["activity"] == event["activityType"] == event["displayName"] == activity
    assert event["activityOperationType"] == operation
    assert event["activityResult"] == "Success"
    assert event["category"] == "RemoteAssistance"
    assert event["componentName"] == "RemoteAssistance"
    actor = event["actor"]
    assert actor["userPrincipalName"] == caller.upn
    assert actor["type"] == actor["auditActorType"] == "ItPro"
    assert actor["ipAddress"] == "127.0.0.1"
    assert actor["servicePrincipalName"] is None
    assert AUDIT_READ in actor["userPermissions"] and WRITE in actor["userPermissions"]
    (resource,) = event["resources"]
    assert resource["resourceId"] == pid
    assert resource["displayName"] == display_name
    assert resource["type"] == resource["auditResourceType"] == "RemoteAssistancePartner"
    datetime.datetime.strptime(event["activityDateTime"][:19], "%Y-%m-%dT%H:%M:%S")


def test_every_operation_writes_exactly_its_event(service):
    """create, PATCH, beginOnboarding, disconnect, DELETE: one event each,
    with Intune's words, the token's actor, the client's correlation id and
    the properties it changed, old and new, as strings."""
    a = Auditor(service)
    oid = a.claims.setdefault("oid", str(uuid.uuid4()))
    ids = {op: str(uuid.uuid4()) for op in ("create", "patch", "begin", "disconnect", "delete")}

    resp = a.request("POST", body={"displayName": "TeamViewer", "onboardingUrl": "https://a"},
                     headers={"client-request-id": ids["create"]})
    assert resp.status_code == 201
    pid = resp.json()["id"]
    assert a.patch(pid, {"displayName": "TV"},
                   headers={"client-request-id": ids["patch"]}).status_code == 200
    assert a.action(pid, "beginOnboarding",
                    headers={"client-request-id": ids["begin"]}).status_code == 204
    assert a.action(pid, "disconnect",
                    headers={"client-request-id": ids["disconnect"]}).status_code == 204
    assert a.delete(pid, headers={"client-request-id": ids["delete"]}).status_code == 204

    create = a.event_of(ids["create"])
    expect_event(create, a, "Create RemoteAssistancePartner", "Create", pid, "TeamViewer")
    assert create["actor"]["userId"] == oid
    assert create["correlationId"] == ids["create"]
    assert modified(create) == {
        "id": (None, pid), "displayName": (None, "TeamViewer"),
        "onboardingUrl": (None, "https://a"), "onboardingStatus": (None, "notOnboarded"),
        "lastConnectionDateTime": (None, "0001-01-01T00:00:00Z"),
        "onboardingRequestExpiryDateTime": (None, "0001-01-01T00:00:00Z")}

    patch = a.event_of(ids["patch"])
    expect_event(patch, a, "Patch RemoteAssistancePartner", "Patch", pid, "TV")
    assert modified(patch) == {"displayName": ("TeamViewer", "TV")}

    begin = a.event_of(ids["begin"])
    expect_event(begin, a, "BeginOnboarding RemoteAssistancePartner", "Action", pid, "TV")
    changes = modified(begin)
    assert changes["onboardingStatus"] == ("notOnboarded", "onboarding")
    assert changes["onboardingRequestExpiryDateTime"][0] == "0001-01-01T00:00:00Z"
    assert set(changes) == {"onboardingStatus", "onboardingRequestExpiryDateTime"}

    disconnect = a.event_of(ids["disconnect"])
    expect_event(disconnect, a, "Disconnect RemoteAssistancePartner", "Action", pid, "TV")
    assert modified(disconnect)["onboardingStatus"] == ("onboarding", "notOnboarded")

    delete = a.event_of(ids["delete"])
    expect_event(delete, a, "Delete RemoteAssistancePartner", "Delete", pid, "TV")
    assert modified(delete)["displayName"] == ("TV", None)
    assert modified(delete)["id"] == (pid, None)

    assert stored_events(service, a.tenant) == 5
    # one by id, as Graph's GET auditEvents/{id}
    one = a.audit("/" + patch["id"])
    assert one.status_code == 200
    body = one.json()
    assert body.pop("@odata.context").endswith("/$metadata#deviceManagement/auditEvents/$entity")
    assert body == patch


def test_correlation_id_is_the_request_id_without_a_client_request_id(service):
    a = Auditor(service)
    resp = a.request("POST", body={"displayName": "x"})
    (event,) = a.events()
    assert event["correlationId"] == resp.headers["request-id"]


@pytest.mark.parametrize("sent, kept", [
    ("5D0B6C1E-3F2A-4E8B-9C47-1A2B3C4D5E6F", "5d0b6c1e-3f2a-4e8b-9c47-1a2b3c4d5e6f"),
    ("my-request-1", None),  # echoed, but no Edm.Guid: the request-id stands in
])
def test_correlation_id_is_always_a_guid(service, sent, kept):
    a = Auditor(service)
    resp = a.request("POST", body={"displayName": "x"}, headers={"client-request-id": sent})
    assert resp.headers["client-request-id"] == sent
    (event,) = a.events()
    assert event["correlationId"] == (kept or resp.headers["request-id"])
    # found by its literal in either case
    assert a.event_of(event["correlationId"].upper()) == event


def test_an_application_token_is_audited_as_its_service_principal(service):
    app = str(uuid.uuid4())
    a = Auditor(service, scp=None, roles=[WRITE, AUDIT_READ], appid=app, upn=None)
    a.create(displayName="by an app")
    (event,) = a.events()
    actor = event["actor"]
    assert actor["type"] == "Application"
    assert actor["applicationId"] == actor["servicePrincipalName"] == app
    assert actor["userId"] is None and actor["userPrincipalName"] is None
    assert sorted(actor["userPermissions"]) == sorted([WRITE, AUDIT_READ])


def test_refused_and_failed_changes_write_no_event(service):
    a = Auditor(service)
    pid = a.create(displayName="kept")["id"]
    assert a.request("POST", body={"displayName": 5}).status_code == 400
    assert a.request("POST", body={"id": pid}).status_code == 409
    assert a.patch("nowhere", {"displayName": "x"}).status_code == 404
    assert a.patch(pid, {"displayName": "x"}, headers={"If-Match": 'W/"stale"'}).status_code \
        == 412
    assert a.delete(pid, headers={"If-Match": 'W/"stale"'}).status_code == 412
    assert a.delete("nowhere").status_code == 404
    assert a.action("nowhere", "disconnect").status_code == 404
    reader = Caller(service, tenant=a.tenant, scp="DeviceManagementServiceConfig.Read.All")
    assert reader.request("POST", body={"displayName": "x"}).status_code == 403
    assert stored_events(service, a.tenant) == 1


def test_tenants_see_only_their_own_events(service):
    a, b = Auditor(service), Auditor(service)
    a.create(displayName="A's")
    (event,) = a.events()
    assert b.events() == []
    assert b.events(**{"$count": "true"}) == []
    assert b.audit(**{"$count": "true"}).json()["@odata.count"] == 0
    assert_graph_error(b.audit("/" + event["id"]), 404, "ResourceNotFound")


def test_list_filters_orders_counts_and_pages(service):
    a = Auditor(service)
    pid = a.create(displayName="p")["id"]
    for i in range(4):
        assert a.patch(pid, {"displayName": f"p{i}"}).status_code == 200
    everything = a.events(**{"$orderby": "activityDateTime"})
    assert [e["activityOperationType"] for e in everything] == ["Create"] + ["Patch"] * 4
    times = [e["activityDateTime"] for e in everything]
    assert times == sorted(times)
    newest = a.events(**{"$orderby": "activityDateTime desc"})
    assert [e["activityDateTime"] for e in newest] == sorted(times, reverse=True)
    assert len(a.events(**{"$filter": "activityOperationType eq 'Patch'"})) == 4
    assert len(a.events(**{"$filter": "activityType eq 'Create RemoteAssistancePartner' "
                                      "and category eq 'RemoteAssistance'"})) == 1
    assert len(a.events(**{"$filter": "activityDateTime ge 2000-01-01T00:00:00Z"})) == 5
    assert a.events(**{"$filter": "activityDateTime lt 2000-01-01T00:00:00Z"}) == []
    counted = a.audit(**{"$count": "true", "$filter": "activityOperationType eq 'Patch'"})
    assert counted.json()["@odata.count"] == 4

    # $top pages with a $skiptoken nextLink, each event once, in order
    seen, url = [], a.audit_url() + "?$top=2&$orderby=activityDateTime"
    while url:
        page = a.request("GET", url=url).json()
        assert len(page["value"]) <= 2
        seen += [e["id"] for e in page["value"]]
        url = page.get("@odata.nextLink")
        if url:
            assert "$skiptoken=" in url
    assert seen == [e["id"] for e in everything]

    # by correlationId (an Edm.Guid), and by two keys too long together for
    # the token to hold (read again from the last event), in pages
    by_correlation = sorted(everything, key=lambda e: e["correlationId"])
    by_type = sorted(sorted(everything, key=lambda e: e["correlationId"], reverse=True),
                     key=lambda e: e["activityType"])
    for orderby, expected in (("correlationId", by_correlation),
                              ("activityType,correlationId desc", by_type)):
        seen, url = [], a.audit_url() + f"?$top=2&$orderby={orderby}"
        while url and len(seen) <= len(everything):
            page = a.request("GET", url=url).json()
            seen += [e["id"] for e in page["value"]]
            url = page.get("@odata.nextLink")
        assert seen == [e["id"] for e in expected], orderby
    some = [e["correlationId"] for e in by_correlation[:2]]
    assert {e["id"] for e in a.events(**{"$filter": f"correlationId in ({some[0]}, {some[1]})"})} \
        == {e["id"] for e in by_correlation[:2]}


@pytest.mark.parametrize("query, message", [
    ("$filter=displayName eq 'x'", "'displayName' is not a property of "
                                   "microsoft.graph.auditEvent"),
    ("$filter=activityDateTime eq 'x'", "activityDateTime is a DateTimeOffset"),
    # Graph's (Microsoft.OData's) answer to a quoted Guid
    ("$filter=correlationId eq '5d0b6c1e-3f2a-4e8b-9c47-1a2b3c4d5e6f'",
     "A binary operator with incompatible types was detected. Found operand types "
     "'Edm.Guid' and 'Edm.String' for operator kind 'Equal'."),
    ("$filter=correlationId in ('5d0b6c1e-3f2a-4e8b-9c47-1a2b3c4d5e6f')",
     "Found operand types 'Edm.Guid' and 'Edm.String' for operator kind 'In'."),
    ("$select=id", "'$select' is not supported on auditEvents"),
    ("$orderby=activity", "'activity' is not a property of microsoft.graph.auditEvent"),
])
def test_list_refuses_what_it_cannot_answer(service, query, message):
    a = Auditor(service)
    resp = a.request("GET", url=a.audit_url() + "?" + query)
    assert message in assert_graph_error(resp, 400, "BadRequest")["message"]


def test_functions(service):
    a = Auditor(service)
    cats = a.audit("/getAuditCategories()")
    assert cats.status_code == 200
    assert cats.json()["value"] == ["RemoteAssistance"]
    types = a.audit("/microsoft.graph.getAuditActivityTypes()").json()["value"]
    assert types == ["Create RemoteAssistancePartner", "Patch RemoteAssistancePartner",
                     "Delete RemoteAssistancePartner",
                     "BeginOnboarding RemoteAssistancePartner",
                     "Disconnect RemoteAssistancePartner"]


@pytest.mark.parametrize("method, suffix", [("POST", ""), ("PATCH", "/{id}"),
                                            ("DELETE", "/{id}"), ("PUT", "")])
def test_audit_events_are_read_only(service, method, suffix):
    a = Auditor(service)
    a.create(displayName="x")
    (event,) = a.events()
    resp = a.request(method, url=a.audit_url(suffix.format(id=event["id"])),
                     body={"activity": "forged"})
    assert_graph_error(resp, 405, "MethodNotAllowed")
    assert resp.headers["Allow"] == "GET, OPTIONS"
    assert a.events() == [event]


@pytest.mark.parametrize("claims, status", [
    ({"scp": WRITE}, 403),
    ({"scp": "DeviceManagementApps.Read.All"}, 200),
    ({"scp": "DeviceManagementApps.ReadWrite.All"}, 200),
    ({"scp": None, "roles": ["DeviceManagementApps.Read.All"]}, 200),
    ({"scp": None, "roles": [WRITE]}, 403),
])
def test_permissions(service, claims, status):
    a = Auditor(service, **claims)
    assert a.audit().status_code == status


def test_served_under_each_version_root(service):
    for version in ("v1.0", "beta"):
        a = Auditor(service, version=version)
        a.create(displayName=version)
        assert len(a.events()) == 1


def test_a_directive_turns_auditing_off(private_service, keys):
    jwks = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    svc = private_service("audit-off", locations=location_block(
        f"/v1.0{COLLECTION}", "v1.0", jwks, "    RemoteAssistAuditEvents Off"))
    a = Auditor(svc)
    a.create(displayName="unaudited")
    assert_graph_error(a.audit(), 404, "ResourceNotFound")
    assert svc.backend.rows(EVENT_ROWS)[0][0] == 0


# The event's insert fails inside the change's transaction (a trigger that
# refuses it): the change is rolled back with it and answered 503 (RA00041
# for the store's failure, RA00030 for the answer).
@pytest.mark.expect_log("RA00041", "RA00030")
@pytest.mark.parametrize("backend", ["sqlite", "pgsql"])
def test_a_failed_commit_leaves_neither_change_nor_event(private_service, request, backend):
    pg = request.getfixturevalue("own_pg") if backend == "pgsql" else None
    svc = private_service(f"audit-fail-{backend}", pg=pg)
    a = Auditor(svc)
    pid = a.create(displayName="before")["id"]
    refuse(svc, True)
    try:
        assert a.request("POST", body={"displayName": "new"}).status_code == 503
        assert a.patch(pid, {"displayName": "after"}).status_code == 503
        assert a.action(pid, "beginOnboarding").status_code == 503
        assert a.delete(pid).status_code == 503
    finally:
        refuse(svc, False)
    (row,) = svc.backend.rows("SELECT display_name, onboarding_status "
                              "FROM remote_assistance_partners")
    assert tuple(row) == ("before", "notOnboarded")
    assert stored_events(svc, a.tenant) == 1
    assert a.patch(pid, {"displayName": "after"}).status_code == 200
    assert stored_events(svc, a.tenant) == 2


# What a pooler's DISCARD ALL, or a DEALLOCATE, does to a connection it
# leaves open: a trigger drops prepared statements (all, or only the event's
# insert) as the audit event of a PATCH to FORGET, the last statement of its
# transaction, goes in. On one child with one connection the next change
# finds them gone, rolls back, prepares what its transaction uses and runs
# it again.
FORGET = "forget the statements"
ONE_CONNECTION = ("StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\n"
                  "MaxRequestWorkers 1")
AFTER_FORGETTING = {
    "create": lambda a, pid: a.request("POST", body={"displayName": "new"}),
    "patch": lambda a, pid: a.patch(pid, {"displayName": "after"}),
    "beginOnboarding": lambda a, pid: a.action(pid, "beginOnboarding"),
    "delete": lambda a, pid: a.delete(pid),
    "get": lambda a, pid: a.get(pid),
}


@pytest.mark.parametrize("change, dropped", [(change, "ALL") for change in AFTER_FORGETTING]
                         + [("patch", "remoteassist_event")])
def test_postgresql_statements_a_live_connection_lost_are_prepared_again(private_service,
                                                                         own_pg, change,
                                                                         dropped):
    svc = private_service(f"audit-forget-{change}", pg=own_pg, mpm="prefork",
                          mpm_config=ONE_CONNECTION)
    own_pg.psql(
        "CREATE FUNCTION forget() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$BEGIN EXECUTE 'DEALLOCATE {dropped}'; RETURN NEW; END$$; "
        "CREATE TRIGGER forget AFTER INSERT ON remoteassist_audit_events FOR EACH ROW "
        f"WHEN (NEW.resource_display_name = '{FORGET}') EXECUTE FUNCTION forget()")
    a = Auditor(svc)
    pid = a.create(displayName="before")["id"]
    assert a.patch(pid, {"displayName": FORGET}).status_code == 200
    resp = AFTER_FORGETTING[change](a, pid)
    assert resp.status_code in (200, 201, 204), resp.text
    assert stored_events(svc, a.tenant) == (2 if change == "get" else 3)


def refuse(svc, on):
    """A trigger that makes every audit event's insert fail, or none."""
    if svc.backend.pg:
        svc.backend.pg.psql(
            "CREATE OR REPLACE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN RAISE EXCEPTION 'refused'; END$$; "
            "CREATE TRIGGER refuse BEFORE INSERT ON remoteassist_audit_events "
            "FOR EACH ROW EXECUTE FUNCTION refuse_event()" if on else
            "DROP TRIGGER refuse ON remoteassist_audit_events")
        return
    with children_db(svc.backend.dbd[1], timeout=10) as db:
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON remoteassist_audit_events "
                   "BEGIN SELECT RAISE(ABORT, 'refused'); END" if on else
                   "DROP TRIGGER refuse")


# PostgreSQL stops: the change and its event fail together (the store's
# failure RA00041, the pool's AH00639/AH00629/AH02655, the 503 RA00040/RA00030).
@pytest.mark.expect_log("RA00041", "AH00639", "AH00629", "AH02655", "RA00040", "RA00030",
                        "AH00633", "AH00636")
def test_postgresql_stopped_writes_neither(private_service, own_pg):
    svc = private_service("audit-pg-stopped", pg=own_pg)
    a = Auditor(svc)
    pid = a.create(displayName="before")["id"]
    own_pg.stop()
    try:
        assert a.patch(pid, {"displayName": "after"}).status_code == 503
    finally:
        own_pg.start()
    assert svc.backend.row(pid)["displayName"] == "before"
    assert stored_events(svc, a.tenant) == 1


def ticks(when):
    start = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)
    return (when - start) // datetime.timedelta(microseconds=1) * 10


@pytest.mark.parametrize("backend", ["sqlite", "pgsql"])
def test_retention_removes_only_what_is_older(private_service, request, backend):
    """RemoteAssistAuditRetention 1: a write's maintenance step removes the
    events of two days ago, of every tenant, and keeps those of twelve hours
    ago."""
    pg = request.getfixturevalue("own_pg") if backend == "pgsql" else None
    svc = private_service(f"audit-retention-{backend}", pg=pg,
                          extra_config="RemoteAssistAuditRetention 1\n")
    now = datetime.datetime.now(datetime.timezone.utc)
    for age, tenant in ((48, "old-a"), (48, "old-b"), (12, "recent")):
        when = now - datetime.timedelta(hours=age)
        row = (tenant, str(uuid.uuid4()), when.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
               ticks(when), "RemoteAssistance", "Create RemoteAssistancePartner", "Create", "c",
               0, "p", "[]")
        sql = ("INSERT INTO remoteassist_audit_events (tenant_id, id, activity_date_time, "
               "activity_ticks, category, activity_type, activity_operation_type, "
               "correlation_id, actor_application, resource_id, modified_properties) VALUES ")
        if pg:
            pg.psql(sql + "(" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v)
                                          for v in row) + ")")
        else:
            with children_db(svc.backend.dbd[1], timeout=10) as db:
                db.execute(sql + "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    Auditor(svc).create(displayName="a write")
    # the step runs once the create has its answer
    deadline = time.time() + 10
    while True:
        left = sorted(r[0] for r in svc.backend.rows("SELECT tenant_id FROM "
                                                     "remoteassist_audit_events"))
        if len(left) <= 2 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert "old-a" not in left and "old-b" not in left
    assert "recent" in left and len(left) == 2
