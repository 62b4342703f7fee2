"""OData query options on the list and $count, on SQLite and PostgreSQL.

One tenant holds a small, awkward data set (nulls, an empty string, a quote,
non-ASCII, date-times written with different offsets); every $filter and
$orderby case is checked against a reference evaluation in Python with
OData's rules, and every ordering is also walked page by page through
@odata.nextLink, which exercises the keyset $skiptoken on each sort key."""
import datetime
import re
import urllib.parse

import pytest
import requests

from conftest import COLLECTION, assert_graph_error, children_db, location_block
from graph_calls import Caller

UNSET = "0001-01-01T00:00:00Z"

ROWS = [
    {"displayName": "Alpha", "onboardingUrl": "https://alpha.example/",
     "onboardingStatus": "onboarded", "lastConnectionDateTime": "2024-01-01T10:00:00Z"},
    {"displayName": "alpha", "onboardingUrl": None, "onboardingStatus": "onboarding",
     "lastConnectionDateTime": "2024-01-01T11:00:00+02:00"},          # 09:00Z
    {"displayName": "Bravo", "onboardingUrl": "https://bravo.example/x",
     "onboardingStatus": "onboarding",
     "lastConnectionDateTime": "2023-12-31T23:30:00-01:00"},          # 00:30Z
    {"displayName": None, "onboardingUrl": "https://nameless.example/",
     "onboardingStatus": "notOnboarded", "lastConnectionDateTime": "2024-01-01T09:00:00Z"},
    {"displayName": "Charlie O'Brien", "onboardingUrl": None, "onboardingStatus": "onboarded",
     "lastConnectionDateTime": "2024-06-30T12:00:00.5-07:30"},
    {"displayName": "D\u00e9lta \u2603", "onboardingUrl": "https://d.example/",
     "onboardingStatus": "notOnboarded", "lastConnectionDateTime": "2024-01-01T10:00:00.0000001Z"},
    {"displayName": "echo", "onboardingUrl": "https://e.example/",
     "onboardingStatus": "notOnboarded"},                             # never connected
    {"displayName": "", "onboardingUrl": None, "onboardingStatus": "onboarded",
     "lastConnectionDateTime": "2022-02-28T23:59:59.9999999+14:00"},
    {"displayName": None, "onboardingUrl": None, "onboardingStatus": "onboarding"},
]


DATETIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,7}))?)?"
                      r"(Z|[+-]\d\d:\d\d)")


def instant(text):
    """A DateTimeOffset as 100 ns ticks since 0001-01-01Z, as .NET counts."""
    year, month, day, hour, minute, second, fraction, offset = DATETIME.fullmatch(text).groups()
    days = (datetime.date(int(year), int(month), int(day)) - datetime.date(1, 1, 1)).days
    seconds = days * 86400 + int(hour) * 3600 + int(minute) * 60 + int(second or 0)
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return seconds * 10**7 + int((fraction or "").ljust(7, "0"))


@pytest.fixture(scope="module")
def seeded(service):
    """One tenant with ROWS, by create; its entities as the service answered them."""
    caller = Caller(service)
    entities = [caller.create(**{k: v for k, v in row.items()}) for row in ROWS]
    return caller, entities


def by_name(entities, names):
    return sorted(e["id"] for e in entities if e["displayName"] in names)


def string_cmp(op):
    return {"eq": lambda v, x: v == x, "ne": lambda v, x: v != x,
            "gt": lambda v, x: v is not None and v > x,
            "ge": lambda v, x: v is not None and v >= x,
            "lt": lambda v, x: v is not None and v < x,
            "le": lambda v, x: v is not None and v <= x}[op]


# remoteAssistanceOnboardingStatus's member values: OData orders and compares by them
STATUS_VALUES = {"notOnboarded": 0, "onboarding": 1, "onboarded": 2}


def when(prop, op, literal):
    """Reference predicate: OData's comparison, nulls unequal to any value."""
    cmp = string_cmp(op)
    if prop == "lastConnectionDateTime":
        return lambda e: cmp(instant(e[prop]), instant(literal))
    return lambda e: cmp(e[prop], literal)


def func(name, prop, arg):
    method = {"startswith": str.startswith, "endswith": str.endswith,
              "contains": lambda v, a: a in v}[name]
    return lambda e: e[prop] is not None and method(e[prop], arg)


FILTERS = [
    ("displayName eq 'Alpha'", when("displayName", "eq", "Alpha")),
    ("displayName ne 'Alpha'", when("displayName", "ne", "Alpha")),
    ("'Alpha' eq displayName", when("displayName", "eq", "Alpha")),
    ("displayName eq null", lambda e: e["displayName"] is None),
    ("displayName ne null", lambda e: e["displayName"] is not None),
    ("displayName eq ''", when("displayName", "eq", "")),
    ("not (displayName eq 'Alpha')", lambda e: not when("displayName", "eq", "Alpha")(e)),
    ("not displayName eq 'Alpha'", lambda e: not when("displayName", "eq", "Alpha")(e)),
    ("displayName gt 'B'", when("displayName", "gt", "B")),
    ("displayName le 'alpha'", when("displayName", "le", "alpha")),
    ("'B' lt displayName", when("displayName", "gt", "B")),
    ("displayName eq 'Charlie O''Brien'", when("displayName", "eq", "Charlie O'Brien")),
    ("displayName eq 'D\u00e9lta \u2603'", when("displayName", "eq", "D\u00e9lta \u2603")),
    ("startswith(displayName,'a')", func("startswith", "displayName", "a")),
    ("startswith(displayName, 'A')", func("startswith", "displayName", "A")),
    ("startswith(displayName,'')", func("startswith", "displayName", "")),
    ("endswith(displayName,'o')", func("endswith", "displayName", "o")),
    ("endswith(displayName,'')", func("endswith", "displayName", "")),
    ("endswith(displayName,'\u2603')", func("endswith", "displayName", "\u2603")),
    ("contains(displayName,'Br')", func("contains", "displayName", "Br")),
    ("contains(displayName,'''')", func("contains", "displayName", "'")),
    ("not contains(displayName,'a')", lambda e: not func("contains", "displayName", "a")(e)),
    ("contains(onboardingUrl,'example')", func("contains", "onboardingUrl", "example")),
    ("onboardingUrl eq null", lambda e: e["onboardingUrl"] is None),
    ("onboardingStatus eq 'onboarding'", when("onboardingStatus", "eq", "onboarding")),
    ("onboardingStatus ne 'notOnboarded'", when("onboardingStatus", "ne", "notOnboarded")),
    # an enum compares by member value
    ("onboardingStatus gt 'notOnboarded'",
     lambda e: STATUS_VALUES[e["onboardingStatus"]] > 0),
    ("onboardingStatus le 'onboarding'", lambda e: STATUS_VALUES[e["onboardingStatus"]] <= 1),
    ("onboardingStatus in ('onboarded','notOnboarded')",
     lambda e: e["onboardingStatus"] != "onboarding"),
    ("onboardingStatus eq microsoft.graph.remoteAssistanceOnboardingStatus'onboarded'",
     when("onboardingStatus", "eq", "onboarded")),
    ("lastConnectionDateTime eq 2024-01-01T09:00:00Z",
     when("lastConnectionDateTime", "eq", "2024-01-01T09:00:00Z")),
    ("lastConnectionDateTime gt 2024-01-01T09:30:00Z",
     when("lastConnectionDateTime", "gt", "2024-01-01T09:30:00Z")),
    ("lastConnectionDateTime ge 2024-01-01T10:00:00Z",
     when("lastConnectionDateTime", "ge", "2024-01-01T10:00:00Z")),
    ("lastConnectionDateTime le 2024-01-01T10:00:00Z",
     when("lastConnectionDateTime", "le", "2024-01-01T10:00:00Z")),
    ("lastConnectionDateTime lt 2000-01-01T00:00:00Z",
     when("lastConnectionDateTime", "lt", "2000-01-01T00:00:00Z")),
    ("2024-01-01T00:00:00Z lt lastConnectionDateTime",
     when("lastConnectionDateTime", "gt", "2024-01-01T00:00:00Z")),
    ("lastConnectionDateTime eq null", lambda e: False),
    ("lastConnectionDateTime ne null", lambda e: True),
    ("displayName eq 'Alpha' or displayName eq 'Bravo'",
     lambda e: e["displayName"] in ("Alpha", "Bravo")),
    ("onboardingStatus eq 'onboarded' and onboardingUrl ne null",
     lambda e: e["onboardingStatus"] == "onboarded" and e["onboardingUrl"] is not None),
    ("displayName eq 'echo' or onboardingStatus eq 'onboarding' and onboardingUrl eq null",
     lambda e: e["displayName"] == "echo"
     or (e["onboardingStatus"] == "onboarding" and e["onboardingUrl"] is None)),
    ("(displayName eq 'echo' or onboardingStatus eq 'onboarding') and onboardingUrl eq null",
     lambda e: (e["displayName"] == "echo" or e["onboardingStatus"] == "onboarding")
     and e["onboardingUrl"] is None),
    ("not not (onboardingStatus eq 'onboarded')", when("onboardingStatus", "eq", "onboarded")),
]


@pytest.mark.parametrize("text,predicate", FILTERS, ids=[f[0] for f in FILTERS])
def test_filter_matches_the_reference(seeded, text, predicate):
    caller, entities = seeded
    expected = sorted(e["id"] for e in entities if predicate(e))
    assert sorted(caller.ids(**{"$filter": text})) == expected
    assert caller.count(**{"$filter": text}).text == str(len(expected))
    page = caller.list(**{"$filter": text, "$count": "true"}).json()
    assert page["@odata.count"] == len(expected)


def test_filter_by_id(seeded):
    caller, entities = seeded
    pid = entities[3]["id"]
    assert caller.ids(**{"$filter": f"id eq '{pid}'"}) == [pid]


def sort_key(prop, descending):
    """OData order: null sorts before any value (last when descending)."""
    def key(e):
        v = e[prop]
        if prop == "lastConnectionDateTime":
            v = instant(v)
        if prop == "onboardingStatus":  # an enum sorts by member value
            v = STATUS_VALUES[v]
        return (v is not None, v if v is not None else "")
    return key, descending


ORDERS = [
    ("displayName", [("displayName", False)]),
    ("displayName desc", [("displayName", True)]),
    ("displayName asc,id desc", [("displayName", False), ("id", True)]),
    ("lastConnectionDateTime desc", [("lastConnectionDateTime", True)]),
    ("lastConnectionDateTime", [("lastConnectionDateTime", False)]),
    ("onboardingStatus,displayName desc", [("onboardingStatus", False), ("displayName", True)]),
    ("onboardingUrl desc,lastConnectionDateTime", [("onboardingUrl", True),
                                                   ("lastConnectionDateTime", False)]),
    ("id desc", [("id", True)]),
]


def reference_order(entities, keys):
    ordered = sorted(entities, key=lambda e: e["id"])  # the id tie-breaker, ascending
    if not any(prop == "id" for prop, _ in keys):
        keys = keys + [("id", False)]
    for prop, descending in reversed(keys):
        key, _ = sort_key(prop, descending)
        ordered = sorted(ordered, key=key, reverse=descending)
    return [e["id"] for e in ordered]


@pytest.mark.parametrize("text,order_keys", ORDERS, ids=[o[0] for o in ORDERS])
@pytest.mark.parametrize("top", [None, 1, 2, 4])
def test_orderby_and_paging_follow_the_reference(seeded, text, order_keys, top):
    caller, entities = seeded
    params = {"$orderby": text}
    if top:
        params["$top"] = str(top)
    assert caller.ids(**params) == reference_order(entities, order_keys)


def test_skip_and_top_cut_the_ordered_list(seeded):
    caller, entities = seeded
    order = reference_order(entities, [("displayName", False)])
    page = caller.list(**{"$orderby": "displayName", "$skip": "2", "$top": "3"}).json()
    assert [e["id"] for e in page["value"]] == order[2:5]
    assert caller.ids(**{"$orderby": "displayName", "$skip": "2", "$top": "3"}) == order[2:]


def test_top_zero_is_an_empty_page(seeded):
    caller, _ = seeded
    page = caller.list(**{"$top": "0"}).json()
    assert page["value"] == [] and "@odata.nextLink" not in page


def test_next_link_keeps_the_options(seeded):
    caller, entities = seeded
    page = caller.list(**{"$filter": "onboardingStatus ne 'onboarded'",
                          "$orderby": "displayName desc", "$select": "displayName",
                          "$top": "2", "$count": "true"}).json()
    link = urllib.parse.urlsplit(page["@odata.nextLink"])
    assert link.path.endswith("/v1.0" + COLLECTION)
    query = urllib.parse.parse_qs(link.query)
    assert query["$filter"] == ["onboardingStatus ne 'onboarded'"]
    assert query["$orderby"] == ["displayName desc"]
    assert query["$select"] == ["displayName"] and query["$top"] == ["2"]
    assert query["$count"] == ["true"] and "$skip" not in query
    second = caller.request("GET", url=page["@odata.nextLink"]).json()
    assert second["@odata.count"] == page["@odata.count"]


def test_select_names_the_properties(seeded):
    caller, _ = seeded
    page = caller.list(**{"$select": "onboardingStatus,displayName"}).json()
    assert page["@odata.context"].endswith(
        "$metadata#deviceManagement/remoteAssistancePartners(displayName,onboardingStatus)")
    for entity in page["value"]:
        assert {k for k in entity if not k.startswith("@")} == {"displayName",
                                                                 "onboardingStatus"}
    star = caller.list(**{"$select": "*"}).json()
    assert star["@odata.context"].endswith("#deviceManagement/remoteAssistancePartners")
    assert "lastConnectionDateTime" in star["value"][0]


def test_plus_and_percent_encodings_are_both_understood(seeded):
    caller, entities = seeded
    expected = by_name(entities, ["Bravo"])
    for raw in ("$filter=displayName+eq+'Bravo'", "%24filter=displayName%20eq%20%27Bravo%27"):
        resp = caller.request("GET", url=caller.url() + "?" + raw)
        assert sorted(e["id"] for e in resp.json()["value"]) == expected


def test_custom_query_options_are_ignored(seeded):
    caller, entities = seeded
    assert len(caller.ids(**{"tracking": "x"})) == len(entities)


# ------------------------------------------------------------------ errors

BAD_QUERIES = [  # (suffix, params, words in the message)
    ("", {"$filter": "displayName eq"}, ["$filter", "position 15"]),
    ("", {"$filter": "foo eq 'x'"}, ["$filter", "position 1", "foo"]),
    ("", {"$filter": "displayName eq 'x"}, ["$filter", "not closed"]),
    ("", {"$filter": "displayName eq 5"}, ["$filter", "displayName"]),
    ("", {"$filter": "displayName eq displayName"}, ["$filter", "two properties"]),
    ("", {"$filter": "'a' eq 'b'"}, ["$filter", "property"]),
    ("", {"$filter": "onboardingStatus eq 'Onboarded'"}, ["$filter", "onboardingStatus"]),
    ("", {"$filter": "onboardingStatus eq microsoft.graph.other'onboarded'"},
     ["$filter", "remoteAssistanceOnboardingStatus"]),
    ("", {"$filter": "lastConnectionDateTime gt '2024-01-01T00:00:00Z'"},
     ["$filter", "DateTimeOffset"]),
    ("", {"$filter": "lastConnectionDateTime gt 2024-02-30T00:00:00Z"}, ["$filter"]),
    ("", {"$filter": "displayName gt null"}, ["$filter", "null"]),
    ("", {"$filter": "startswith(onboardingStatus,'o')"}, ["$filter", "startswith"]),
    ("", {"$filter": "contains(displayName)"}, ["$filter", "','"]),
    ("", {"$filter": "(displayName eq 'x'"}, ["$filter", "')'"]),
    ("", {"$filter": "displayName eq 'x')"}, ["$filter", "unexpected"]),
    ("", {"$filter": "displayName eq 'x' xor id eq 'y'"}, ["$filter", "unexpected"]),
    ("", {"$filter": "displayName EQ 'x'"}, ["$filter", "comparison operator"]),
    ("", {"$filter": "displayName eq 'x' and"}, ["$filter", "position"]),
    ("", {"$filter": "("* 40 + "displayName eq 'x'" + ")" * 40}, ["$filter", "deeper"]),
    ("", {"$filter": " or ".join(["displayName eq 'x'"] * 60)}, ["$filter", "terms"]),
    ("", {"$filter": "displayName eq '" + "x" * 5000 + "'"}, ["$filter", "longer"]),
    ("", {"$filter": "onboardingRequestExpiryDateTime gt 2024-01-01T00:00:00Z"},
     ["$filter", "onboardingRequestExpiryDateTime"]),
    ("", {"$filter": "displayName eq 'x' #"}, ["$filter", "#"]),
    ("", {"$orderby": "foo"}, ["$orderby", "foo"]),
    ("", {"$orderby": "displayName up"}, ["$orderby", "up"]),
    ("", {"$orderby": "displayName,displayName desc"}, ["$orderby", "twice"]),
    ("", {"$orderby": "displayName,"}, ["$orderby", "empty"]),
    ("", {"$select": "foo"}, ["$select", "foo"]),
    ("", {"$select": ""}, ["$select"]),
    ("", {"$top": "-1"}, ["$top"]),
    ("", {"$top": "ten"}, ["$top"]),
    ("", {"$top": "99999999999"}, ["$top"]),
    ("", {"$skip": "1.5"}, ["$skip"]),
    ("", {"$count": "yes"}, ["$count"]),
    ("", {"$expand": "x"}, ["$expand", "navigation"]),
    ("", {"$search": "x"}, ["$search"]),
    ("", {"$apply": "groupby((displayName))"}, ["$apply"]),
    ("", {"$format": "atom"}, ["$format"]),
    ("/$count", {"$format": "json"}, ["$format", "$count"]),
    ("", {"$frobnicate": "1"}, ["$frobnicate"]),
    ("", {"filter": "displayName eq 'x'"}, ["filter", "$filter"]),
    ("", {"$skiptoken": "garbage"}, ["$skiptoken"]),
    ("/$count", {"$top": "1"}, ["$top", "$count"]),
    ("/$count", {"$orderby": "displayName"}, ["$orderby"]),
    ("/some-id", {"$filter": "displayName eq 'x'"}, ["$filter", "single"]),
    ("/some-id", {"$top": "1"}, ["$top"]),
]


@pytest.mark.parametrize("suffix,params,words", BAD_QUERIES,
                         ids=[f"{s}?{list(p)[0]}={str(list(p.values())[0])[:40]}"
                              for s, p, _ in BAD_QUERIES])
def test_bad_query_options_are_400_naming_them(service, suffix, params, words):
    caller = Caller(service)
    err = assert_graph_error(caller.request("GET", suffix, params=params), 400, "BadRequest")
    for word in words:
        assert word in err["message"], err["message"]


def test_repeated_option_is_400(service):
    caller = Caller(service)
    resp = caller.request("GET", url=caller.url() + "?$top=1&$top=2")
    assert "more than once" in assert_graph_error(resp, 400, "BadRequest")["message"]


@pytest.mark.parametrize("raw", ["$filter=%ZZ", "$filter=displayName%20eq%20%27%00%27",
                                 "$filter=displayName%20eq%20%27%C3%28%27"])
def test_undecodable_query_strings_are_400(service, raw):
    caller = Caller(service)
    assert_graph_error(caller.request("GET", url=caller.url() + "?" + raw), 400, "BadRequest")


def test_query_options_on_writes_are_400_and_store_nothing(service):
    caller = Caller(service)
    with service.nothing_stored():
        resp = caller.request("POST", params={"$select": "id"}, body={})
    assert "$select" in assert_graph_error(resp, 400, "BadRequest")["message"]


def test_a_skiptoken_belongs_to_its_query(seeded):
    caller, _ = seeded
    page = caller.list(**{"$orderby": "displayName", "$top": "2"}).json()
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(page["@odata.nextLink"]).query)[
        "$skiptoken"][0]
    for other in ({"$orderby": "displayName desc"}, {"$filter": "displayName ne null"},
                  {}):
        resp = caller.list(**dict(other, **{"$skiptoken": token}))
        assert "$skiptoken" in assert_graph_error(resp, 400, "BadRequest")["message"]


def test_server_paging_caps_a_page_at_the_page_size(private_service, keys):
    jwks = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    svc = private_service("paging", locations=location_block(
        f"/v1.0{COLLECTION}", "v1.0", jwks, "    RemoteAssistPageSize 3"))
    caller = Caller(svc)
    ids = sorted(caller.create()["id"] for _ in range(7))
    page = caller.list(**{"$top": "5"}).json()
    assert len(page["value"]) == 3 and "@odata.nextLink" in page
    assert caller.ids(**{"$top": "100"}) == ids
    assert caller.ids() == ids


BOUND_ROWS = 200000   # a scan of them takes tens of milliseconds on either database


def fill(svc, tenant, n):
    """n partners of tenant written straight into the database."""
    columns = ("tenant_id, id, display_name, onboarding_status, last_connection_date_time, "
               "last_connection_ticks, onboarding_request_expiry_date_time, "
               "onboarding_request_expiry_ticks, etag, api_version")
    unset = "0001-01-01T00:00:00Z"
    if svc.backend.pg:
        svc.backend.pg.psql(
            f"INSERT INTO remote_assistance_partners ({columns}) SELECT '{tenant}', "
            f"'p' || i, 'partner ' || i, 'onboarded', '{unset}', 0, '{unset}', 0, 'e', "
            f"'v1.0' FROM generate_series(1, {n}) AS i")
        return
    with children_db(svc.backend.dbd[1], timeout=10) as db:
        db.execute(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                   f"WHERE i < {n}) INSERT INTO remote_assistance_partners ({columns}) "
                   f"SELECT ?, 'p' || i, 'partner ' || i, 'onboarded', ?, 0, ?, 0, 'e', "
                   f"'v1.0' FROM n", (tenant, unset, unset))


@pytest.mark.parametrize("backend", ["sqlite", "pgsql"])
def test_a_query_past_its_bound_is_503_and_the_connection_serves_on(private_service, keys,
                                                                    request, backend):
    """RemoteAssistQueryTimeout 1 (ms) stops a list and a $count that scan a
    large tenant: 503 with Retry-After and a Graph body, one RA00090 warning
    each; the same client then lists with the default bound and creates, on
    the same pooled database connections."""
    jwks = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    pg = request.getfixturevalue("own_pg") if backend == "pgsql" else None
    svc = private_service(f"bounded-{backend}", pg=pg, locations="".join([
        location_block(f"/v1.0{COLLECTION}", "v1.0", jwks),
        location_block(f"/bounded/v1.0{COLLECTION}", "v1.0", jwks,
                       "    RemoteAssistQueryTimeout 1")]),
        extra_config='<Location "/metrics">\n    SetHandler remoteassist-metrics\n</Location>')
    caller = Caller(svc)
    fill(svc, caller.tenant, BOUND_ROWS)
    unmatched = {"$filter": "contains(displayName,'none')"}
    bounded = svc.url(prefix="/bounded")
    for suffix, params in (("", unmatched), ("/$count", unmatched),
                           ("", dict(unmatched, **{"$count": "true"}))):
        resp = caller.request("GET", url=bounded + suffix, params=params)
        assert_graph_error(resp, 503, "ServiceNotAvailable")
        assert int(resp.headers["Retry-After"]) > 0
    assert len(re.findall(r"\[remoteassist:warn\] .* RA00090: ", svc.log())) == 3
    metrics = requests.get(svc.httpd.base + "/metrics", timeout=10).text
    assert re.search(r"^remoteassist_database_timeouts_total 3$", metrics, re.M), metrics
    assert caller.list(**unmatched).json()["value"] == []
    assert caller.count().text == str(BOUND_ROWS)
    pid = caller.create(displayName="after the bound")["id"]
    assert caller.get(pid).status_code == 200
