"""The signed $skiptoken (issue 19 item 6), on SQLite and PostgreSQL: a
token is signed (HMAC-SHA256) with a key made with the schema (level 4,
sql/step-004.sql) and kept in the database, so a nextLink of node A is
followed on node B of the same database and after a graceful restart, and
any changed character is a 400. And the rolling upgrade that step is the
first of: a module of schema level 3 (release 0.3.0, built from its commit)
and this one side by side on one SQLite file and one PostgreSQL database,
serving each other's rows."""
import os
import subprocess
import time
import uuid

import pytest

from conftest import (COLLECTION, ROOT, SCHEMA_LEVEL, Backend, assert_graph_error,
                      make_service, sqlite_db)

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _second_node(workroot, keys, first, name, **httpd_args):
    """Another httpd on first's database."""
    return make_service(workroot.mktemp(name), keys, Backend(
        first.backend.name, first.backend.dbd, first.backend.pg), **httpd_args)


@pytest.fixture(params=["sqlite", "pgsql"])
def two_nodes(request, private_service, workroot, keys):
    pg = request.getfixturevalue("pg") if request.param == "pgsql" else None
    a = private_service("token-node-a", pg=pg)
    b = _second_node(workroot, keys, a, "token-node-b")
    yield a, b
    b.stop()


def _seed(svc, tenant_token, n=5):
    prefix = f"tok-{uuid.uuid4().hex[:8]}"
    for i in range(n):
        resp = svc.post({"displayName": f"{prefix} {i}"}, token=tenant_token)
        assert resp.status_code == 201, resp.text
    return prefix


def _first_page(svc, token, prefix):
    resp = svc.session.get(svc.url(), params={
        "$filter": f"startswith(displayName,'{prefix}')", "$orderby": "displayName",
        "$top": "2"}, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _follow(svc, link, token):
    """link, sent to svc's own host and port (another node of the same
    database answers the same URL)."""
    path = link.split("/", 3)[3]
    return svc.session.get(f"{svc.httpd.base}/{path}",
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_a_token_of_one_node_is_followed_on_another_and_after_a_restart(two_nodes, keys):
    a, b = two_nodes
    token = keys.token()
    prefix = _seed(a, token)
    first = _first_page(a, token, prefix)
    link = first["@odata.nextLink"]
    on_b = _follow(b, link, token)
    assert on_b.status_code == 200, on_b.text
    assert [e["displayName"] for e in on_b.json()["value"]] == [f"{prefix} 2", f"{prefix} 3"]
    # the same link on A after a graceful restart of A
    before = a.httpd.child_pids(running=True)
    a.session.close()
    a.httpd.graceful()
    deadline = time.time() + 20
    while time.time() < deadline and set(a.httpd.child_pids(running=True)) & set(before):
        time.sleep(0.1)
    again = _follow(a, link, token)
    assert again.status_code == 200, again.text
    assert again.json()["value"] == on_b.json()["value"]


def test_every_changed_character_of_a_token_is_a_400(two_nodes, keys):
    a, _ = two_nodes
    token = keys.token()
    prefix = _seed(a, token, 3)
    link = _first_page(a, token, prefix)["@odata.nextLink"]
    head, skiptoken = link.split("$skiptoken=")
    assert "&" not in skiptoken
    for i, char in enumerate(skiptoken):
        other = ALPHABET[(ALPHABET.index(char) + 1 + i % 62) % 64]
        resp = _follow(a, head + "$skiptoken=" + skiptoken[:i] + other + skiptoken[i + 1:],
                       token)
        err = assert_graph_error(resp, 400, "BadRequest")
        assert "$skiptoken" in err["message"], (i, err)


def test_a_token_of_another_database_is_a_400(private_service, keys):
    """Two deployments (two databases) have two keys: a token of one is
    refused by the other, though the query and the row are alike."""
    token = keys.token()
    one, other = private_service("token-db-one"), private_service("token-db-two")
    prefix = _seed(one, token, 3)
    link = _first_page(one, token, prefix)["@odata.nextLink"]
    assert_graph_error(_follow(other, link, token), 400, "BadRequest")


# ------------------------------------------------------- the rolling upgrade

def _release(level):
    with open(os.path.join(ROOT, "tools", "releases.txt")) as f:
        for line in f:
            fields = line.split()
            if fields and not line.startswith("#") and int(fields[0]) == level:
                return fields[1], fields[2]
    raise AssertionError(f"tools/releases.txt names no release of schema level {level}")


@pytest.fixture(scope="session")
def level_3_module(workroot):
    version, commit = _release(3)
    out = os.path.join(ROOT, "build", "releases", version)
    p = subprocess.run([os.path.join(ROOT, "tools", "build-release.sh"), commit, out],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f"building {version} at {commit}:\n{p.stdout}\n{p.stderr}"
    return os.path.join(out, ".libs", "mod_remoteassist.so")


def _schema_row(backend):
    return tuple(int(v) for v in backend.rows(
        "SELECT version, oldest_reader FROM remoteassist_schema")[0])


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", "pgsql"])
def test_a_level_3_node_and_a_level_4_node_share_one_database(request, db, workroot, keys,
                                                              level_3_module):
    """The old node makes the database (level 3); the new one adds steps 4
    and 5 (RA00077) while the old one serves; each reads and changes the other's
    rows; the old node, restarted, serves the level-4 database (RA00078)."""
    pg = request.getfixturevalue("own_pg") if db == "pgsql" else None
    work_old = workroot.mktemp(f"rolling-old-{db}")
    if pg:
        backend = Backend("pgsql", ("pgsql", pg.dbd_params), pg)
    else:
        backend = Backend("sqlite", sqlite_db(work_old))
    token = keys.token()
    # release 0.3.0 knows none of the later directives (throttling among them)
    old = make_service(work_old, keys, backend, module=level_3_module, throttle="")
    new = None
    try:
        assert _schema_row(backend) == (3, 3)
        made_by_old = old.post({"displayName": "by the old node"}, token=token).json()["id"]
        new = make_service(workroot.mktemp(f"rolling-new-{db}"), keys, backend)
        assert "RA00077" in new.log()
        assert _schema_row(backend) == (SCHEMA_LEVEL, 3)
        made_by_new = new.post({"displayName": "by the new node"}, token=token).json()["id"]
        for reader, pid in ((new, made_by_old), (old, made_by_new)):
            url = f"{reader.url()}/{pid}"
            got = reader.post(url=url, method="GET", token=token)
            assert got.status_code == 200, got.text
            changed = reader.post({"displayName": "changed"}, url=url, method="PATCH",
                                  token=token)
            assert changed.status_code == 200, changed.text
        # lists on both: each sees both rows
        for node in (old, new):
            names = {e["id"] for e in node.post(method="GET", token=token).json()["value"]}
            assert {made_by_old, made_by_new} <= names
        old.stop()
        old = make_service(work_old, keys, backend, module=level_3_module, throttle="")
        assert "RA00078" in old.log()
        assert old.post(url=f"{old.url()}/{made_by_new}", method="GET",
                        token=token).status_code == 200
    finally:
        old.stop()
        if new:
            new.stop()


# ------------------------------------------------------ the bounded nextLink

EMOJI = "\U0001F600"
# a nextLink's length over its request's, whatever the id: RA_QUERY_TOKEN_MAX
# is 200 (a token with the longest id, 128 characters, holds the id alone)
TOKEN_ROOM = len("&$skiptoken=") + 200


def _get(svc, url, token):
    return svc.session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _walk(svc, url, token, pages=20):
    """Every page from url: (entities, [(request url, nextLink)])."""
    seen, links = [], []
    for _ in range(pages):
        resp = _get(svc, url, token)
        assert resp.status_code == 200, resp.text[:300]
        body = resp.json()
        seen.extend(body["value"])
        if "@odata.nextLink" not in body:
            return seen, links
        links.append((url, body["@odata.nextLink"]))
        url = body["@odata.nextLink"]
    raise AssertionError("more pages than expected")


@pytest.mark.parametrize("orderby", ["onboardingUrl", "onboardingUrl desc,displayName desc"])
@pytest.mark.parametrize("id_length", [None, 128], ids=["guid-ids", "128-character-ids"])
def test_the_longest_sort_keys_keep_the_next_link_short(private_service, keys, orderby,
                                                        id_length):
    """2,048 emoji in onboardingUrl (the longest value validation allows)
    with $orderby on it and $top=1, the partners' ids GUIDs or as long as
    an id may be: each nextLink is at most its request's length plus
    TOKEN_ROOM, and the walk returns every partner once, in order."""
    svc = private_service("token-long-keys")
    token = keys.token()
    prefix = f"long-{uuid.uuid4().hex[:6]}"
    urls = [chr(ord("a") + i) + EMOJI * 2047 for i in range(3)]
    for i, url in enumerate(urls):
        body = {"displayName": f"{prefix} {i}" + "n" * 200, "onboardingUrl": url}
        if id_length:
            body["id"] = f"{prefix}-{i}-".ljust(id_length, "x")
        assert svc.post(body, token=token).status_code == 201
    first = (f"{svc.url()}?$filter=startswith(displayName,'{prefix}')&$orderby={orderby}"
             f"&$top=1")
    seen, links = _walk(svc, first, token)
    expected = sorted(urls, reverse=orderby.startswith("onboardingUrl desc"))
    assert [e["onboardingUrl"] for e in seen] == expected
    assert len(links) == 2
    for request, link in links:
        assert len(link) <= len(request) + TOKEN_ROOM, (len(request), len(link))


def test_a_deleted_last_row_with_long_keys_is_a_400_naming_the_token(private_service, keys):
    svc = private_service("token-deleted-anchor")
    token = keys.token()
    ids = [svc.post({"displayName": f"d{i}", "onboardingUrl": chr(ord("a") + i) + "u" * 2047},
                    token=token).json()["id"] for i in range(2)]
    first = _get(svc, f"{svc.url()}?$orderby=onboardingUrl&$top=1", token).json()
    assert first["value"][0]["id"] == ids[0]
    assert svc.post(url=f"{svc.url()}/{ids[0]}", method="DELETE",
                    token=token).status_code == 204
    err = assert_graph_error(_get(svc, first["@odata.nextLink"], token), 400, "BadRequest")
    assert "$skiptoken" in err["message"] and "deleted" in err["message"]


def test_the_longest_filter_of_quotes_pages_without_growing(private_service, keys):
    """A $filter of the longest length validation allows, its quotes sent
    raw: the nextLink echoes it as sent (no %27), and it can be followed."""
    svc = private_service("token-long-filter")
    token = keys.token()
    for i in range(3):
        assert svc.post({"displayName": "'" * 5}, token=token).status_code == 201
    head, tail = "displayName eq '", "' or startswith(displayName,'''')"
    text = head + "''" * ((4096 - len(head) - len(tail)) // 2) + tail
    assert 4094 <= len(text) <= 4096
    url = f"{svc.url()}?$filter={text.replace(' ', '%20')}&$top=1"
    seen, links = _walk(svc, url, token)
    assert len(seen) == 3 and len(links) == 2
    for request, link in links:
        assert "%27" not in link
        assert len(link) <= len(request) + TOKEN_ROOM, (len(request), len(link))


def test_a_list_whose_next_link_would_pass_limit_request_line_is_a_400(private_service, keys):
    svc = private_service("token-request-line", extra_config="LimitRequestLine 1500")
    token = keys.token()
    svc.post({"displayName": "x"}, token=token)

    def listing(n):
        words = "%20or%20".join(["displayName%20eq%20'x'"] * n)
        return _get(svc, f"{svc.url()}?$filter={words}&$top=1", token)

    ok = listing(20)  # its request line and its next page's fit
    assert ok.status_code == 200, ok.text
    near = listing(43)  # its request line fits, its next page's would not
    line = len("GET  HTTP/1.1") + len(near.request.path_url)
    assert 1500 - 200 < line <= 1500, line  # RA_QUERY_TOKEN_MAX: 200
    err = assert_graph_error(near, 400, "BadRequest")
    assert "$filter" in err["message"] and "1500" in err["message"]
