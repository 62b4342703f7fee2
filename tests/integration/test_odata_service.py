"""The OData service around the resource (issue 19): $metadata in CSDL XML
and JSON checked against Microsoft's published facts, the service document
and the deviceManagement singleton under each version root, claimed
through the partners' <Location>; the query semantics (in, parameter
aliases, the enum by member value, beta's $-less options, unknown
segments) and the conditional headers (If-None-Match, If-Match first).
On SQLite and PostgreSQL (the session `service`), v1.0 and beta."""
import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import (COLLECTION, GRAPH_CONTENT_TYPE, Httpd, assert_graph_error,
                      location_block, sqlite_db)
from httpd_harness import MODULES
from test_config import configtest

EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"

# ../shared/reference/graph-resource-contract.md, "The entity type (CSDL)":
# Microsoft's declared order, types and nullability per version.
CONTRACT = {
    "v1.0": [("displayName", "Edm.String", True),
             ("lastConnectionDateTime", "Edm.DateTimeOffset", False),
             ("onboardingStatus", "graph.remoteAssistanceOnboardingStatus", False),
             ("onboardingUrl", "Edm.String", True)],
    "beta": [("displayName", "Edm.String", True),
             ("lastConnectionDateTime", "Edm.DateTimeOffset", False),
             ("onboardingRequestExpiryDateTime", "Edm.DateTimeOffset", False),
             ("onboardingStatus", "graph.remoteAssistanceOnboardingStatus", False),
             ("onboardingUrl", "Edm.String", True)],
}
MEMBERS = [("notOnboarded", 0), ("onboarding", 1), ("onboarded", 2)]
VERSIONS = ["v1.0", "beta"]


def root(service, version):
    return f"{service.httpd.base}/{version}"


def tenant_token(service):
    """A token of a tenant of the test's own, so its rows are its own."""
    tid = str(uuid.uuid4())
    return service.keys.token(tid=tid, iss=f"https://sts.windows.net/{tid}/")


def get(service, url, token="valid", headers=None):
    return service.post(method="GET", url=url, token=token, headers=headers)


# ------------------------------------------------------------- $metadata

def xml_facts(text):
    doc = ET.fromstring(text)
    assert doc.tag == f"{EDMX}Edmx" and doc.get("Version") == "4.0"
    schema = doc.find(f"{EDMX}DataServices/{EDM}Schema")
    assert schema.get("Namespace") == "microsoft.graph" and schema.get("Alias") == "graph"
    types = {t.get("Name"): t for t in schema.findall(f"{EDM}EntityType")}
    partner = types["remoteAssistancePartner"]
    assert partner.get("BaseType") == "graph.entity"
    props = [(p.get("Name"), p.get("Type"), p.get("Nullable", "true") == "true")
             for p in partner.findall(f"{EDM}Property")]
    entity = types["entity"]
    assert entity.find(f"{EDM}Key/{EDM}PropertyRef").get("Name") == "id"
    key = entity.find(f"{EDM}Property")
    assert (key.get("Name"), key.get("Type"), key.get("Nullable")) == ("id", "Edm.String",
                                                                       "false")
    enum = schema.find(f"{EDM}EnumType[@Name='remoteAssistanceOnboardingStatus']")
    members = [(m.get("Name"), int(m.get("Value"))) for m in enum.findall(f"{EDM}Member")]
    nav = types["deviceManagement"].find(f"{EDM}NavigationProperty")
    assert (nav.get("Name"), nav.get("Type"), nav.get("ContainsTarget")) == (
        "remoteAssistancePartners", "Collection(graph.remoteAssistancePartner)", "true")
    singleton = schema.find(f"{EDM}EntityContainer/{EDM}Singleton")
    assert (singleton.get("Name"), singleton.get("Type")) == ("deviceManagement",
                                                              "graph.deviceManagement")
    actions = {}
    for a in schema.findall(f"{EDM}Action"):
        assert a.get("IsBound") == "true" and a.find(f"{EDM}ReturnType") is None
        actions[a.get("Name")] = [(p.get("Name"), p.get("Type"))
                                  for p in a.findall(f"{EDM}Parameter")]
    return props, members, actions, schema


@pytest.mark.parametrize("version", VERSIONS)
def test_metadata_xml_matches_microsofts_csdl(service, version):
    r = get(service, f"{root(service, version)}/$metadata")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/xml;charset=utf-8"
    assert r.headers["OData-Version"] == "4.0"
    assert r.headers["ETag"].startswith('W/"')
    props, members, actions, schema = xml_facts(r.text)
    assert props == CONTRACT[version]
    assert members == MEMBERS
    assert actions == {name: [("bindingParameter", "graph.remoteAssistancePartner")]
                       for name in ("beginOnboarding", "disconnect")}
    # the Capabilities say what this module does
    restriction = schema.find(f"{EDM}Annotations[@Target='graph.GraphService/"
                              f"deviceManagement']/{EDM}Annotation/{EDM}Record/"
                              f"{EDM}PropertyValue/{EDM}Collection/{EDM}Record")
    values = {pv.get("Property"): pv for pv in restriction.findall(f"{EDM}PropertyValue")}
    assert values["NavigationProperty"].get("NavigationPropertyPath") == \
        "remoteAssistancePartners"
    assert values["TopSupported"].get("Bool") == "true"
    assert values["SkipSupported"].get("Bool") == "true"
    for term, member, value in (("FilterRestrictions", "Filterable", "true"),
                                ("SortRestrictions", "Sortable", "true"),
                                ("SearchRestrictions", "Searchable", "false"),
                                ("CountRestrictions", "Countable", "true"),
                                ("ExpandRestrictions", "Expandable", "false"),
                                ("SelectSupport", "Supported", "true")):
        record = values[term].find(f"{EDM}Record")
        assert record.find(f"{EDM}PropertyValue[@Property='{member}']").get("Bool") == value
    functions = [s.text for s in values["FilterFunctions"].iter(f"{EDM}String")]
    assert functions == ["startswith", "endswith", "contains"]


def json_facts(doc):
    assert doc["$Version"] == "4.0"
    assert doc["$EntityContainer"] == "microsoft.graph.GraphService"
    schema = doc["microsoft.graph"]
    partner = schema["remoteAssistancePartner"]
    assert partner["$Kind"] == "EntityType" and partner["$BaseType"] == "graph.entity"
    # CSDL JSON's defaults: $Type Edm.String, $Nullable false
    props = [(name, p.get("$Type", "Edm.String"), p.get("$Nullable", False))
             for name, p in partner.items() if not name.startswith("$")]
    enum = schema["remoteAssistanceOnboardingStatus"]
    assert enum["$Kind"] == "EnumType"
    members = [(k, v) for k, v in enum.items() if not k.startswith("$")]
    assert schema["deviceManagement"]["remoteAssistancePartners"] == {
        "$Kind": "NavigationProperty", "$Collection": True,
        "$Type": "graph.remoteAssistancePartner", "$ContainsTarget": True}
    assert schema["GraphService"]["deviceManagement"] == {"$Type": "graph.deviceManagement"}
    for name in ("beginOnboarding", "disconnect"):
        (action,) = schema[name]
        assert action["$Kind"] == "Action" and action["$IsBound"] is True
        assert "$ReturnType" not in action
        assert [p["$Type"] for p in action["$Parameter"]] == ["graph.remoteAssistancePartner"]
    return props, members


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("how", ["accept", "format", "format_media_type"])
def test_metadata_json_matches_microsofts_csdl(service, version, how):
    url, headers = f"{root(service, version)}/$metadata", None
    if how == "accept":
        headers = {"Accept": "application/json"}
    else:
        url += "?$format=" + ("json" if how == "format" else "application/json")
    r = get(service, url, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json;charset=utf-8"
    props, members = json_facts(r.json())
    assert props == CONTRACT[version]
    assert members == MEMBERS
    # one validator names both forms
    assert r.headers["ETag"] == get(service, f"{root(service, version)}/$metadata").headers["ETag"]


# Microsoft Graph's auditEvent and its complex types, the same in v1.0 and
# beta (learn.microsoft.com/graph/api/resources/intune-auditing-auditevent,
# -auditactor, -auditresource, -auditproperty; nullability from Graph's
# published CSDL: only activityDateTime and correlationId are not nullable;
# the collections say their items are never null, see src/ra_csdl.c).
AUDIT_CONTRACT = {
    "auditEvent": [("displayName", "Edm.String", True), ("componentName", "Edm.String", True),
                   ("actor", "graph.auditActor", True), ("activity", "Edm.String", True),
                   ("activityDateTime", "Edm.DateTimeOffset", False),
                   ("activityType", "Edm.String", True),
                   ("activityOperationType", "Edm.String", True),
                   ("activityResult", "Edm.String", True),
                   ("correlationId", "Edm.Guid", False),
                   ("resources", "Collection(graph.auditResource)", False),
                   ("category", "Edm.String", True)],
    "auditActor": [(name, "Edm.String", True) for name in ("type", "auditActorType")]
    + [("userPermissions", "Collection(Edm.String)", False)]
    + [(name, "Edm.String", True) for name in (
        "applicationId", "applicationDisplayName", "userPrincipalName",
        "servicePrincipalName", "ipAddress", "userId")],
    "auditResource": [("displayName", "Edm.String", True),
                      ("modifiedProperties", "Collection(graph.auditProperty)", False),
                      ("type", "Edm.String", True), ("auditResourceType", "Edm.String", True),
                      ("resourceId", "Edm.String", True)],
    "auditProperty": [(name, "Edm.String", True) for name in ("displayName", "oldValue",
                                                              "newValue")],
}
# what mod_ra_audit.c answers: $filter and $orderby on these alone
AUDIT_QUERYABLE = {"id", "activityDateTime", "category", "activityType",
                   "activityOperationType", "correlationId"}
AUDIT_FUNCTIONS = ("getAuditCategories", "getAuditActivityTypes")


def xml_audit_facts(schema):
    """The audit part of a CSDL XML schema: (types, navigation, functions,
    the Capabilities record of auditEvents)."""
    types = {}
    for t in schema.findall(f"{EDM}EntityType") + schema.findall(f"{EDM}ComplexType"):
        if t.get("Name") in AUDIT_CONTRACT:
            types[t.get("Name")] = [(p.get("Name"), p.get("Type"),
                                     p.get("Nullable", "true") == "true")
                                    for p in t.findall(f"{EDM}Property")]
    navigation = [(n.get("Name"), n.get("Type"), n.get("ContainsTarget"))
                  for n in schema.findall(f"{EDM}EntityType[@Name='deviceManagement']/"
                                          f"{EDM}NavigationProperty")
                  if n.get("Name") == "auditEvents"]
    functions = {f.get("Name"): (f.get("IsBound"),
                                 [p.get("Type") for p in f.findall(f"{EDM}Parameter")],
                                 f.find(f"{EDM}ReturnType").get("Type"))
                 for f in schema.findall(f"{EDM}Function")}
    records = [r for r in schema.iter(f"{EDM}Record")
               if r.find(f"{EDM}PropertyValue[@Property='NavigationProperty']") is not None
               and r.find(f"{EDM}PropertyValue[@Property='NavigationProperty']").get(
                   "NavigationPropertyPath") == "auditEvents"]
    return types, navigation, functions, records


@pytest.mark.parametrize("version", VERSIONS)
def test_metadata_describes_the_audit_events(service, version):
    r = get(service, f"{root(service, version)}/$metadata")
    assert r.status_code == 200, r.text
    schema = xml_facts(r.text)[3]
    types, navigation, functions, (record,) = xml_audit_facts(schema)
    assert types == AUDIT_CONTRACT
    assert schema.find(f"{EDM}EntityType[@Name='auditEvent']").get("BaseType") == "graph.entity"
    assert navigation == [("auditEvents", "Collection(graph.auditEvent)", "true")]
    assert functions == {name: ("true", ["Collection(graph.auditEvent)"],
                                "Collection(Edm.String)") for name in AUDIT_FUNCTIONS}
    values = {pv.get("Property"): pv for pv in record.findall(f"{EDM}PropertyValue")}
    everything = {name for name, _, _ in AUDIT_CONTRACT["auditEvent"]} | {"id"}
    for term, member, listed in (("FilterRestrictions", "Filterable",
                                  "NonFilterableProperties"),
                                 ("SortRestrictions", "Sortable", "NonSortableProperties")):
        rec = values[term].find(f"{EDM}Record")
        assert rec.find(f"{EDM}PropertyValue[@Property='{member}']").get("Bool") == "true"
        paths = {p.text for p in rec.iter(f"{EDM}PropertyPath")}
        assert paths == everything - AUDIT_QUERYABLE
    for term, member, value in (("SelectSupport", "Supported", "false"),
                                ("CountRestrictions", "Countable", "true"),
                                ("InsertRestrictions", "Insertable", "false"),
                                ("UpdateRestrictions", "Updatable", "false"),
                                ("DeleteRestrictions", "Deletable", "false")):
        rec = values[term].find(f"{EDM}Record")
        assert rec.find(f"{EDM}PropertyValue[@Property='{member}']").get("Bool") == value
    assert values["TopSupported"].get("Bool") == values["SkipSupported"].get("Bool") == "true"

    # CSDL JSON says the same (its defaults: $Type Edm.String, $Nullable false)
    doc = get(service, f"{root(service, version)}/$metadata",
              headers={"Accept": "application/json"}).json()["microsoft.graph"]
    for name, members in AUDIT_CONTRACT.items():
        kind = "EntityType" if name == "auditEvent" else "ComplexType"
        assert doc[name]["$Kind"] == kind
        as_json = []
        for member, p in doc[name].items():
            if member.startswith("$"):
                continue
            t = p.get("$Type", "Edm.String")
            as_json.append((member, f"Collection({t})" if p.get("$Collection") else t,
                            p.get("$Nullable", False)))
        assert as_json == members
    assert doc["deviceManagement"]["auditEvents"] == {
        "$Kind": "NavigationProperty", "$Collection": True, "$Type": "graph.auditEvent",
        "$ContainsTarget": True}
    for name in AUDIT_FUNCTIONS:
        (function,) = doc[name]
        assert function["$Kind"] == "Function" and function["$IsBound"] is True
        assert [(p["$Type"], p["$Collection"]) for p in function["$Parameter"]] == [
            ("graph.auditEvent", True)]
        assert function["$ReturnType"] == {"$Collection": True}
    (_, audit) = doc["$Annotations"]["graph.GraphService/deviceManagement"][
        "@Capabilities.NavigationRestrictions"]["RestrictedProperties"]
    assert audit["NavigationProperty"] == "auditEvents"
    assert set(audit["SortRestrictions"]["NonSortableProperties"]) == \
        everything - AUDIT_QUERYABLE
    assert audit["SelectSupport"] == {"Supported": False}
    assert audit["DeleteRestrictions"] == {"Deletable": False}


def test_metadata_without_audit_events_when_they_are_off(private_service, keys):
    """RemoteAssistAuditEvents Off answers 404 under that root: its
    $metadata does not name them either (both documents are built at
    start-up; the root's <Location> picks one)."""
    jwks = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    svc = private_service("metadata-audit-off", locations=location_block(
        f"/v1.0{COLLECTION}", "v1.0", jwks, "    RemoteAssistAuditEvents Off"))
    for accept in ("application/xml", "application/json"):
        r = get(svc, f"{root(svc, 'v1.0')}/$metadata", headers={"Accept": accept})
        assert r.status_code == 200, r.text
        assert "remoteAssistancePartner" in r.text and "audit" not in r.text.lower()


@pytest.mark.parametrize("accept, form", [
    (None, "xml"), ("*/*", "xml"), ("application/xml", "xml"),
    ("application/json, application/xml", "xml"), ("application/json", "json"),
    ("application/json;odata.metadata=minimal", "json"), ("text/html", None),
])
def test_metadata_negotiation(service, accept, form):
    r = get(service, f"{root(service, 'v1.0')}/$metadata", headers={"Accept": accept})
    if form is None:
        assert_graph_error(r, 406, "NotAcceptable")
    else:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith(f"application/{form};")


@pytest.mark.parametrize("version", VERSIONS)
def test_metadata_etag_and_if_none_match(service, version):
    url = f"{root(service, version)}/$metadata"
    etag = get(service, url).headers["ETag"]
    for header in (etag, etag[2:], "*", f'"other", {etag}'):
        r = get(service, url, headers={"If-None-Match": header})
        assert r.status_code == 304, header
        assert r.content == b"" and r.headers["ETag"] == etag
    assert get(service, url, headers={"If-None-Match": '"other"'}).status_code == 200
    # v1.0 and beta differ, so do their validators
    other = "beta" if version == "v1.0" else "v1.0"
    assert get(service, f"{root(service, other)}/$metadata").headers["ETag"] != etag


# ------------------------------------- service document, singleton, claims

@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", ["", "/"])
def test_service_document(service, version, path):
    r = get(service, root(service, version) + path)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == GRAPH_CONTENT_TYPE
    assert r.json() == {"@odata.context": f"{root(service, version)}/$metadata",
                        "value": [{"name": "deviceManagement", "kind": "Singleton",
                                   "url": "deviceManagement"}]}


@pytest.mark.parametrize("version", VERSIONS)
def test_device_management_singleton(service, version):
    tid = str(uuid.uuid4())
    token = service.keys.token(tid=tid, iss=f"https://sts.windows.net/{tid}/")
    for path in ("/deviceManagement", "/DeviceManagement/"):
        r = get(service, root(service, version) + path, token=token)
        assert r.status_code == 200, r.text
        assert r.json() == {"@odata.context":
                            f"{root(service, version)}/$metadata#deviceManagement", "id": tid}


@pytest.mark.parametrize("path", ["/$metadata", "/", "/deviceManagement"])
def test_service_resources_need_the_token(service, path):
    assert_graph_error(get(service, root(service, "v1.0") + path, token=None), 401,
                       "InvalidAuthenticationToken")


@pytest.mark.parametrize("path, method, allow", [
    ("/$metadata", "POST", "GET, OPTIONS"), ("/", "DELETE", "GET, OPTIONS"),
    ("/deviceManagement", "PATCH", "GET, OPTIONS"),
])
def test_service_resources_are_read_only(service, path, method, allow):
    r = service.post(method=method, url=root(service, "v1.0") + path, body={})
    assert_graph_error(r, 405, "MethodNotAllowed")
    assert r.headers["Allow"] == allow


@pytest.mark.parametrize("path", ["/$metadata/x", "/$metadataX", "/deviceManagementX",
                                  "/deviceManagement/other"])
def test_other_paths_under_the_root_are_not_claimed(service, path):
    r = get(service, root(service, "v1.0") + path)
    assert r.status_code == 404
    assert "application/json" not in r.headers.get("Content-Type", "")


@pytest.fixture
def require_ip_service(private_service, keys):
    """An administrator's Require on the v1.0 partners' <Location> only."""
    jwks = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    return private_service("odata-require", locations="".join([
        location_block(f"/v1.0{COLLECTION}", "v1.0", jwks, "    Require ip 192.0.2.1"),
        location_block(f"/beta{COLLECTION}", "beta", jwks),
    ]), extra_config=f"LoadModule authz_host_module {MODULES}/mod_authz_host.so")


@pytest.mark.expect_log("AH01630")
def test_require_ip_guards_the_service_root(require_ip_service):
    """What the module claims beside the entity set takes the partners'
    access configuration: no new <Location> is needed, none bypasses it."""
    svc = require_ip_service
    for path in ("/$metadata", "/", "", "/deviceManagement", "/DEVICEMANAGEMENT", COLLECTION):
        r = svc.post(method="GET", url=f"{svc.httpd.base}/v1.0{path}")
        assert_graph_error(r, 403, "Forbidden")
        r = svc.post(method="GET", url=f"{svc.httpd.base}/beta{path}")
        assert r.status_code == 200, (path, r.text)


# ----------------------------------------------------------- query semantics

def create(service, token, version="v1.0", **props):
    body = {"displayName": "x", "onboardingStatus": "notOnboarded"}
    body.update(props)
    r = service.post(body, version=version, token=token)
    assert r.status_code == 201, r.text
    return r.json()


def names(service, token, query, version="v1.0"):
    r = get(service, f"{service.url(version)}?{query}", token=token)
    assert r.status_code == 200, r.text
    return [p["displayName"] for p in r.json()["value"]]


@pytest.fixture
def statuses(service):
    """A tenant of its own with one partner per status, created out of order."""
    token = tenant_token(service)
    for name, status in (("c", "onboarded"), ("a", "notOnboarded"), ("b", "onboarding"),
                         ("d", "onboarding")):
        create(service, token, displayName=name, onboardingStatus=status)
    return token


@pytest.mark.parametrize("query, expected", [
    # the enum sorts by member value: notOnboarded=0, onboarding=1, onboarded=2
    ("$orderby=onboardingStatus,displayName", ["a", "b", "d", "c"]),
    ("$orderby=onboardingStatus desc,displayName desc", ["c", "d", "b", "a"]),
    ("$filter=onboardingStatus gt 'notOnboarded'&$orderby=displayName", ["b", "c", "d"]),
    ("$filter=onboardingStatus le 'onboarding'&$orderby=displayName", ["a", "b", "d"]),
    ("$filter=onboardingStatus lt microsoft.graph.remoteAssistanceOnboardingStatus'onboarded'"
     "&$orderby=displayName", ["a", "b", "d"]),
    # in
    ("$filter=onboardingStatus in ('onboarded','notOnboarded')&$orderby=displayName",
     ["a", "c"]),
    ("$filter=displayName in ('d', 'a', 'zz')&$orderby=displayName", ["a", "d"]),
    # parameter aliases, in $filter and $orderby
    ("$filter=displayName eq @p&@p='b'", ["b"]),
    ("$filter=displayName in (@p,@q)&@p='c'&@q='a'&$orderby=@o desc&@o=displayName",
     ["c", "a"]),
])
def test_query_semantics(service, statuses, query, expected):
    assert names(service, statuses, query) == expected


def test_keyset_paging_by_enum_value(service, statuses):
    """nextLink continues in the enum's order across pages."""
    url = f"{service.url()}?$orderby=onboardingStatus desc,displayName&$top=1"
    seen = []
    while url:
        r = get(service, url, token=statuses)
        assert r.status_code == 200, r.text
        seen += [p["displayName"] for p in r.json()["value"]]
        url = r.json().get("@odata.nextLink")
    assert seen == ["c", "b", "d", "a"]


def test_alias_in_next_link(service, statuses):
    r = get(service, f"{service.url()}?$filter=displayName ne @p&@p='a'&$top=2"
                     f"&$orderby=displayName", token=statuses)
    first = [p["displayName"] for p in r.json()["value"]]
    nxt = get(service, r.json()["@odata.nextLink"], token=statuses)
    assert nxt.status_code == 200, nxt.text
    assert first + [p["displayName"] for p in nxt.json()["value"]] == ["b", "c", "d"]


@pytest.mark.parametrize("query, message", [
    ("$filter=displayName eq @p", "Invalid $filter at position 16: the parameter alias '@p' "
                                  "has no value."),
    ("$filter=displayName eq @p&@p=", "Invalid $filter at position 16: the parameter alias "
                                      "'@p' has no value."),
    ("$orderby=@o", "Invalid $orderby: the parameter alias '@o' has no value."),
    ("$filter=onboardingStatus in ('x')", "Invalid $filter at position 22: onboardingStatus "
                                          "is one of 'notOnboarded', 'onboarding' or "
                                          "'onboarded'."),
    ("filter=displayName eq 'a'", "The query option 'filter' needs its '$' prefix: $filter."),
    ("top=1", "The query option 'top' needs its '$' prefix: $top."),
])
def test_query_refusals_v1(service, query, message):
    err = assert_graph_error(get(service, f"{service.url()}?{query}"), 400, "BadRequest")
    assert err["message"] == message


def test_beta_takes_options_without_dollar(service):
    token = tenant_token(service)
    for name in ("b", "a", "c"):
        create(service, token, version="beta", displayName=name)
    assert names(service, token, "orderby=displayName desc&top=2&skip=1", "beta") == ["b", "a"]
    assert names(service, token, "filter=displayName in ('a','c')&orderby=displayName",
                 "beta") == ["a", "c"]
    r = get(service, f"{service.url('beta')}?select=displayName&count=true", token=token)
    assert r.json()["@odata.count"] == 3
    assert all(set(p) == {"@odata.type", "@odata.etag", "displayName"}
               for p in r.json()["value"])
    err = assert_graph_error(get(service, f"{service.url('beta')}?top=1&$top=2", token=token),
                             400, "BadRequest")
    assert err["message"] == "The query option '$top' is given more than once."


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("segment", ["nope", "$value", "$ref", "displayName"])
@pytest.mark.parametrize("form", ["/{id}/{segment}", "('{id}')/{segment}"])
def test_unknown_segment_after_an_entity_is_400(service, version, segment, form):
    pid = create(service, "valid", version=version)["id"]
    r = get(service, service.url(version) + form.format(id=pid, segment=segment))
    err = assert_graph_error(r, 400, "BadRequest")
    assert err["message"] == f"Resource not found for the segment '{segment}'."


# ------------------------------------------------------------ conditions

@pytest.fixture
def partner(service):
    token = tenant_token(service)
    body = create(service, token, displayName="cond")
    return token, body["id"], f'W/"{body["@odata.etag"].split(chr(34))[1]}"'


def test_get_if_none_match(service, partner):
    token, pid, etag = partner
    url = f"{service.url()}/{pid}"
    for header in (etag, etag[2:], "*", f'"x", {etag}', f'W/"x",{etag}'):
        r = get(service, url, token=token, headers={"If-None-Match": header})
        assert r.status_code == 304, header
        assert r.content == b"" and r.headers["ETag"] == etag
    r = get(service, url, token=token, headers={"If-None-Match": 'W/"other"'})
    assert r.status_code == 200 and r.json()["id"] == pid
    # If-Match first: a mismatch there is 412 whatever If-None-Match says
    r = get(service, url, token=token, headers={"If-Match": 'W/"other"', "If-None-Match": "*"})
    assert_graph_error(r, 412, "PreconditionFailed")
    # collections and $count ignore it
    r = get(service, service.url(), token=token, headers={"If-None-Match": "*"})
    assert r.status_code == 200 and len(r.json()["value"]) == 1
    r = get(service, f"{service.url()}/$count", token=token, headers={"If-None-Match": "*"})
    assert r.status_code == 200 and r.text == "1"


@pytest.mark.parametrize("method, path, body", [
    ("PATCH", "", {"displayName": "changed"}),
    ("DELETE", "", None),
    ("POST", "/beginOnboarding", None),
    ("POST", "/disconnect", None),
])
def test_changes_refused_by_if_none_match(service, partner, method, path, body):
    token, pid, etag = partner
    url = f"{service.url()}/{pid}{path}"
    before = get(service, f"{service.url()}/{pid}", token=token).json()
    for header in ("*", etag, f'"x", {etag[2:]}'):
        r = service.post(body, method=method, url=url, token=token,
                         headers={"If-None-Match": header})
        err = assert_graph_error(r, 412, "PreconditionFailed")
        assert "If-None-Match" in err["message"]
    # If-Match is evaluated first
    r = service.post(body, method=method, url=url, token=token,
                     headers={"If-Match": 'W/"other"', "If-None-Match": "*"})
    err = assert_graph_error(r, 412, "PreconditionFailed")
    assert "If-Match was read" in err["message"]
    assert get(service, f"{service.url()}/{pid}", token=token).json() == before
    # an If-None-Match that does not match lets the change through
    r = service.post(body, method=method, url=url, token=token,
                     headers={"If-None-Match": 'W/"other"'})
    assert r.status_code in (200, 204), r.text


# ---------------------------------------------------------- metadata levels

def level_of(resp):
    return resp.headers["Content-Type"].split("odata.metadata=")[1].split(";")[0]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("how", ["accept", "format"])
def test_odata_metadata_levels(service, version, how):
    token = tenant_token(service)
    pid = create(service, token, version=version, displayName="lvl")["id"]
    create(service, token, version=version, displayName="lvl2")
    entity_url = f"{service.url(version)}/{pid}"

    def at(url, level):
        if how == "accept":
            return get(service, url, token=token,
                       headers={"Accept": f"application/json;odata.metadata={level}"})
        sep = "&" if "?" in url else "?"
        return get(service, f"{url}{sep}$format=application/json;odata.metadata={level}",
                   token=token)

    none = at(entity_url, "none")
    assert none.status_code == 200 and level_of(none) == "none"
    assert not [k for k in none.json() if k.startswith("@") or "@" in k]
    minimal = at(entity_url, "minimal")
    assert level_of(minimal) == "minimal"
    assert set(k for k in minimal.json() if "@" in k) == {"@odata.context", "@odata.type",
                                                          "@odata.etag"}
    full = at(entity_url, "full").json()
    link = f"{service.url(version)}('{pid}')"
    assert full["@odata.id"] == full["@odata.editLink"] == link
    assert full["#microsoft.graph.beginOnboarding"] == {
        "target": f"{link}/microsoft.graph.beginOnboarding"}
    assert full["#microsoft.graph.disconnect"] == {"target": f"{link}/microsoft.graph.disconnect"}
    assert full["lastConnectionDateTime@odata.type"] == "#DateTimeOffset"
    assert full["onboardingStatus@odata.type"] == \
        "#microsoft.graph.remoteAssistanceOnboardingStatus"
    # a list page at none keeps its paging, without the annotations
    page = at(f"{service.url(version)}?$top=1&$count=true", "none")
    body = page.json()
    assert level_of(page) == "none" and "@odata.context" not in body
    assert body["@odata.count"] == 2 and "@odata.nextLink" in body
    assert not [k for k in body["value"][0] if "@" in k]
    full_page = at(f"{service.url(version)}?$top=1", "full").json()
    assert full_page["@odata.context"].endswith("$metadata#deviceManagement/"
                                                "remoteAssistancePartners")
    assert full_page["value"][0]["@odata.id"].startswith(f"{service.url(version)}('")
    if how == "format":  # the next page keeps the level
        nxt = get(service, full_page["@odata.nextLink"], token=token)
        assert level_of(nxt) == "full" and "@odata.id" in nxt.json()["value"][0]


def test_metadata_level_refusals(service):
    r = get(service, service.url(),
            headers={"Accept": "application/json;odata.metadata=partial"})
    assert_graph_error(r, 406, "NotAcceptable")
    r = get(service, f"{service.url()}?$format=xml")
    assert_graph_error(r, 406, "NotAcceptable")
    # $format overrides Accept
    r = get(service, f"{service.url()}?$format=json", headers={"Accept": "text/html"})
    assert r.status_code == 200 and level_of(r) == "minimal"


@pytest.mark.parametrize("path", ["/", "/deviceManagement"])
def test_service_resources_at_levels(service, path):
    url = root(service, "v1.0") + path
    none = get(service, url, headers={"Accept": "application/json;odata.metadata=none"})
    assert level_of(none) == "none"
    full = get(service, url, headers={"Accept": "application/json;odata.metadata=full"})
    if path == "/":  # a service document keeps its context at every level
        assert none.json()["@odata.context"] == full.json()["@odata.context"]
    else:
        assert "@odata.context" not in none.json()
        assert full.json()["@odata.id"] == f"{root(service, 'v1.0')}/deviceManagement"
        assert full.json()["remoteAssistancePartners@odata.navigationLink"] == service.url()


@pytest.mark.parametrize("header", ["client-request-id", "Client-Request-Id"])
def test_request_ids_on_service_resources(service, header):
    cid = str(uuid.uuid4())
    for path in ("/$metadata", "/", "/deviceManagement"):
        r = get(service, root(service, "v1.0") + path, headers={header: cid})
        assert r.headers["client-request-id"] == cid
        uuid.UUID(r.headers["request-id"])
        assert r.headers["OData-Version"] == "4.0"


@pytest.mark.parametrize("path, warned", [
    ("/v1.0/$metadata", True), ("/V1.0/", True), ("/v1.0/deviceManagement", True),
    ("/v1.0/other", False), ("/beta/$metadata", False),
])
def test_configtest_explains_a_location_the_module_claims(workroot, keys, path, warned):
    """apachectl -t says when another <Location> names a path the module
    answers under the partners' own configuration."""
    workdir = workroot.mktemp("conf-claims")
    key = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    httpd = Httpd(workdir, sqlite_db(workdir), key,
                  locations=location_block(f"/v1.0{COLLECTION}", "v1.0", key)
                  + f'<Location "{path}">\n    Require all granted\n</Location>\n')
    rc, out = configtest(httpd)
    assert rc == 0 and "Syntax OK" in out, out
    assert ("RA00151" in out) == warned, out
    if warned:
        assert f"<Location {path}> does not apply" in out
