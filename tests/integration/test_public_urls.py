"""The public URLs the module writes (Location, @odata.context,
@odata.nextLink): RemoteAssistBaseURL without the version, each section
appending its own, and X-Forwarded-Proto/-Host believed only from the
addresses RemoteAssistTrustedProxy lists, compared with the connection's
peer, never with what a client can write."""
import os
import time

import pytest

from conftest import COLLECTION, SEED_BETA, SEED_V1, Backend, location_block, make_service, \
    sqlite_db
from httpd_harness import MODULES, Httpd

PUBLIC = "https://graph.contoso.com"
FORGED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
ENTITY_CONTEXT = "/$metadata#deviceManagement/remoteAssistancePartners/$entity"


def jwks(keys):
    return f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'


def created(svc, version="v1.0", prefix="", headers=None):
    """The root of a create's Location, checked against its @odata.context."""
    seed = SEED_BETA if version == "beta" else SEED_V1
    resp = svc.post(seed, version=version, prefix=prefix, headers=headers)
    assert resp.status_code == 201, resp.text
    location, context = resp.headers["Location"], resp.json()["@odata.context"]
    suffix = f"{COLLECTION}('{resp.json()['id']}')"
    assert location.endswith(suffix), location
    root = location[:-len(suffix)]
    assert context == root + ENTITY_CONTEXT, (context, location)
    return root


def next_link_root(svc, version="v1.0", prefix="", headers=None):
    """The root @odata.nextLink carries (the collection holds two partners)."""
    resp = svc.post(None, method="GET", version=version, prefix=prefix, headers=headers,
                    url=svc.url(version, prefix) + "?$top=1")
    assert resp.status_code == 200, resp.text
    link = resp.json()["@odata.nextLink"]
    assert COLLECTION + "?" in link, link
    return link.split(COLLECTION + "?")[0]


# ------------------------------------------------------- RemoteAssistBaseURL

@pytest.fixture(scope="module")
def base_url_service(workroot, keys):
    """RemoteAssistBaseURL once at server level, inherited by v1.0 and beta;
    /legacy keeps the form of 0.2 (a value ending in its own version)."""
    workdir = workroot.mktemp("base-url")
    locations = "".join([
        location_block(f"/v1.0{COLLECTION}", "v1.0", jwks(keys)),
        location_block(f"/beta{COLLECTION}", "beta", jwks(keys)),
        location_block(f"/legacy/beta{COLLECTION}", "beta", jwks(keys),
                       f"    RemoteAssistBaseURL {PUBLIC}/api/beta/"),
    ])
    svc = make_service(workdir, keys, Backend("sqlite", sqlite_db(workdir)),
                       locations=locations, extra_config=f"RemoteAssistBaseURL {PUBLIC}/")
    yield svc
    svc.stop()


@pytest.mark.parametrize("version,prefix,root", [
    ("v1.0", "", f"{PUBLIC}/v1.0"),
    ("beta", "", f"{PUBLIC}/beta"),
    ("beta", "/legacy", f"{PUBLIC}/api/beta"),
])
def test_base_url_gets_the_section_version(base_url_service, version, prefix, root):
    assert created(base_url_service, version, prefix) == root
    created(base_url_service, version, prefix)
    assert next_link_root(base_url_service, version, prefix) == root


def test_base_url_wins_over_forwarded_headers(workroot, keys, private_service):
    svc = private_service("base-url-and-proxy", locations=location_block(
        f"/v1.0{COLLECTION}", "v1.0", jwks(keys),
        f"    RemoteAssistBaseURL {PUBLIC}\n    RemoteAssistTrustedProxy 127.0.0.1"))
    assert created(svc, headers=FORGED) == f"{PUBLIC}/v1.0"


def configtest(workroot, keys, locations, extra_config=""):
    workdir = workroot.mktemp("base-url-conf")
    httpd = Httpd(workdir, sqlite_db(workdir), jwks(keys), locations=locations,
                  extra_config=extra_config)
    return httpd.configtest()


@pytest.mark.parametrize("server_level,beta_extra", [
    # 0.2's advice at server level: right for v1.0, wrong for beta
    (f"RemoteAssistBaseURL {PUBLIC}/v1.0", ""),
    ("", f"    RemoteAssistBaseURL {PUBLIC}/v1.0/"),
])
def test_base_url_of_another_version_fails_configtest(workroot, keys, server_level, beta_extra):
    rc, out = configtest(workroot, keys, location_block(f"/v1.0{COLLECTION}", "v1.0", jwks(keys))
                         + location_block(f"/beta{COLLECTION}", "beta", jwks(keys), beta_extra),
                         server_level)
    assert rc != 0, out
    assert "RA00011" in out and f"/beta{COLLECTION}" in out, out
    assert f"RemoteAssistBaseURL {PUBLIC})" in out, out
    assert f"/v1.0{COLLECTION} (SetHandler" not in out, out


@pytest.mark.parametrize("base", [
    PUBLIC, f"{PUBLIC}/", f"{PUBLIC}/v1.0", f"{PUBLIC}/api/v1.0/",
    # a version word is a version only as the path's last segment
    "https://beta", "https://beta/",
])
def test_base_url_forms_that_pass_configtest(workroot, keys, base):
    rc, out = configtest(workroot, keys, location_block(
        f"/v1.0{COLLECTION}", "v1.0", jwks(keys), f"    RemoteAssistBaseURL {base}"))
    assert rc == 0, out


# -------------------------------------------- X-Forwarded-Proto/-Host

# (section prefix, RemoteAssistTrustedProxy there or None)
SECTIONS = [
    ("/none", None),
    ("/trusted", "127.0.0.1"),
    ("/network", "10.0.0.0/8 127.0.0.0/255.0.0.0"),
    ("/elsewhere", "192.0.2.0/24 ::1"),
    # mod_remoteip believes X-Forwarded-For from 127.0.0.1 (see the fixture),
    # so a client's "X-Forwarded-For: 192.0.2.10" makes that its address
    ("/remoteip", "192.0.2.10"),
]


@pytest.fixture(scope="module")
def proxied(workroot, keys):
    workdir = workroot.mktemp("trusted-proxies")
    locations = "".join(
        location_block(f"{prefix}/{version}{COLLECTION}", version, jwks(keys),
                       f"    RemoteAssistTrustedProxy {trusted}" if trusted else "")
        for prefix, trusted in SECTIONS for version in ("v1.0", "beta"))
    access_log = os.path.join(workdir, "access.log")
    extra = f"""LoadModule remoteip_module {MODULES}/mod_remoteip.so
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1
LogFormat "%a %{{c}}a %U" peers
CustomLog "{access_log}" peers
"""
    svc = make_service(workdir, keys, Backend("sqlite", sqlite_db(workdir)),
                       locations=locations, extra_config=extra)
    svc.access_log = access_log
    try:
        for _ in range(2):  # so that a list with $top=1 has a next page
            assert svc.post(SEED_V1, prefix="/none").status_code == 201
        yield svc
    finally:
        svc.stop()


def own_root(svc, prefix, version):
    return f"{svc.httpd.base}{prefix}/{version}"


@pytest.mark.parametrize("prefix", ["/none", "/elsewhere"])
@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_forwarded_headers_of_an_untrusted_peer_are_ignored(proxied, prefix, version):
    assert created(proxied, version, prefix, FORGED) == own_root(proxied, prefix, version)
    assert next_link_root(proxied, version, prefix, FORGED) == own_root(proxied, prefix, version)


def test_remoteip_cannot_lend_a_client_a_trusted_address(proxied):
    headers = dict(FORGED, **{"X-Forwarded-For": "192.0.2.10"})
    assert created(proxied, "v1.0", "/remoteip", headers) == own_root(proxied, "/remoteip",
                                                                       "v1.0")
    # mod_remoteip did take the forged address as the client's (%a)
    lines = logged(proxied, "/remoteip/")
    assert lines[-1][:2] == ["192.0.2.10", "127.0.0.1"], lines


def logged(svc, part, seconds=30):
    """The access log's lines (split) that hold part, once there is one.
    httpd writes a request's line at log_transaction, after the response
    has gone: the client can hold its answer before the line is written, and
    on a loaded machine it often does."""
    deadline = time.monotonic() + seconds
    while True:
        with open(svc.access_log) as f:
            lines = [line.split() for line in f if part in line]
        if lines:
            return lines
        assert time.monotonic() < deadline, f"no line of {part} in {svc.access_log}"
        time.sleep(0.01)


@pytest.mark.parametrize("headers,expected", [
    (FORGED, "https://evil.example"),
    ({"X-Forwarded-Proto": "HTTPS", "X-Forwarded-Host": "graph.contoso.com:8443"},
     "https://graph.contoso.com:8443"),
    ({"X-Forwarded-Host": "[2001:db8::1]:8443"}, "http://[2001:db8::1]:8443"),
    # Apache's mod_proxy appends to what the client sent: the last one is its own
    ({"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "evil.example, graph.contoso.com"},
     "https://graph.contoso.com"),
    # only the scheme: the host and port the request named
    ({"X-Forwarded-Proto": "https"}, "https://127.0.0.1:{port}"),
    # values that are no scheme or authority are ignored, one by one
    ({"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "graph.contoso.com"},
     "http://graph.contoso.com"),
    ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example/path?"},
     "https://127.0.0.1:{port}"),
    ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "user@evil.example"},
     "https://127.0.0.1:{port}"),
    ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example:99999999"},
     "https://127.0.0.1:{port}"),
    ({"X-Forwarded-Proto": ",", "X-Forwarded-Host": "graph.contoso.com,"},
     "http://127.0.0.1:{port}"),
])
@pytest.mark.parametrize("prefix", ["/trusted", "/network"])
def test_forwarded_headers_of_a_trusted_peer_name_the_root(proxied, prefix, headers, expected):
    root = expected.format(port=proxied.httpd.port) + f"{prefix}/v1.0"
    assert created(proxied, "v1.0", prefix, headers) == root
    assert next_link_root(proxied, "v1.0", prefix, headers) == root


def test_forwarded_root_keeps_the_section_version(proxied):
    assert created(proxied, "beta", "/trusted", FORGED) == "https://evil.example/trusted/beta"


@pytest.mark.parametrize("value", ["proxy.internal", "10.0.0.0/33", "10.0.0.1/255.0.0.256",
                                   "not an address"])
def test_trusted_proxy_takes_addresses_only(workroot, keys, value):
    rc, out = configtest(workroot, keys, location_block(
        f"/v1.0{COLLECTION}", "v1.0", jwks(keys), f"    RemoteAssistTrustedProxy {value}"))
    assert rc != 0, out
    assert "RemoteAssistTrustedProxy" in out, out


def test_trusted_proxy_at_server_level_applies_to_every_section(workroot, keys, private_service):
    svc = private_service("trusted-server-level", locations=location_block(
        f"/beta{COLLECTION}", "beta", jwks(keys)),
        extra_config="RemoteAssistTrustedProxy 127.0.0.1")
    assert created(svc, "beta", headers=FORGED) == "https://evil.example/beta"

