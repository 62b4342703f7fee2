"""Real OData clients from npm, unmodified (issue 19), pinned by
tests/odata-js/package.json and package-lock.json:

- @odata/client, a generic OData v4 client (tests/odata-js/client.mjs):
  from $metadata to the entity set, create, list with $filter/$orderby/$top,
  follow @odata.nextLink, update, delete; on SQLite and PostgreSQL, v1.0
  and beta.
- odata-csdl, the OASIS OData TC's CSDL XML -> CSDL JSON converter
  (tests/odata-js/csdl.mjs): it must read the served CSDL XML strictly, and
  what it makes of it must equal the CSDL JSON the service serves.

node and npm are required: without them these tests fail, they never skip.
"""
import json
import os
import subprocess
import uuid

import pytest

from conftest import ROOT
from test_graph_js_client import NODE_TIMEOUT, NPM_CI_TIMEOUT, _require

ODATA_JS = os.path.join(ROOT, "tests", "odata-js")
PACKAGES = ("@odata/client", "odata-csdl")


@pytest.fixture(scope="module")
def odata_js():
    """npm ci from the committed lock file when the pinned packages are not
    installed as pinned."""
    node = _require("node")
    with open(os.path.join(ODATA_JS, "package.json")) as f:
        pinned = json.load(f)["dependencies"]

    def installed(package):
        try:
            with open(os.path.join(ODATA_JS, "node_modules", *package.split("/"),
                                   "package.json")) as f:
                return json.load(f)["version"]
        except FileNotFoundError:
            return None

    if any(installed(p) != pinned[p] for p in PACKAGES):
        p = subprocess.run([_require("npm"), "ci", "--no-audit", "--no-fund"], cwd=ODATA_JS,
                           capture_output=True, text=True, timeout=NPM_CI_TIMEOUT)
        assert p.returncode == 0, f"npm ci in {ODATA_JS} failed:\n{p.stdout}\n{p.stderr}"
    for package in PACKAGES:
        assert installed(package) == pinned[package], package
    return node


def run(node, script, *args, env=None):
    p = subprocess.run([node, os.path.join(ODATA_JS, script), *args], cwd=ODATA_JS, env=env,
                       capture_output=True, text=True, timeout=NODE_TIMEOUT)
    assert p.returncode == 0, f"{script} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout)


VERSION_PROPERTIES = {
    "v1.0": ["displayName", "lastConnectionDateTime", "onboardingStatus", "onboardingUrl"],
    "beta": ["displayName", "lastConnectionDateTime", "onboardingRequestExpiryDateTime",
             "onboardingStatus", "onboardingUrl"],
}


# OData orders an enum by its members' values (ra_entity.h)
STATUS_VALUE = {"notOnboarded": 0, "onboarding": 1, "onboarded": 2}


def check_cycle(seen, root, version, prefix):
    """What client.mjs saw of a version root (root: the scheme and host the
    client was given): everything but the counts, which depend on what else
    the tenant holds (test_make_run.py runs it on make run's one tenant)."""
    assert seen["entitySet"] == "deviceManagement/remoteAssistancePartners"
    assert seen["properties"] == VERSION_PROPERTIES[version]
    assert seen["created"] == [prefix + n for n in "bac"]
    assert seen["firstPage"] == [prefix + "a", prefix + "b"]
    assert seen["nextLink"].startswith(f"{root}/{version}/deviceManagement/")
    assert seen["secondPage"] == [prefix + "c"]
    # the enum sorts by member value, descending: onboarded, onboarding, notOnboarded
    values = [STATUS_VALUE[s] for s in seen["byStatus"]]
    assert values == sorted(values, reverse=True) and set(values) == {0, 1, 2}, seen
    assert seen["updated"] == prefix + "b-renamed"
    assert seen["afterDelete"].startswith("No remoteAssistancePartner has the id")


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_generic_odata_client_cycle(service, odata_js, version):
    tid = str(uuid.uuid4())  # a tenant of its own: the list is the test's
    token = service.keys.token(tid=tid, iss=f"https://sts.windows.net/{tid}/")
    prefix = f"odata-{uuid.uuid4().hex[:8]}-"
    seen = run(odata_js, "client.mjs", f"{service.httpd.base}/{version}", token, prefix)
    check_cycle(seen, service.httpd.base, version, prefix)
    assert seen["byStatus"] == ["onboarded", "onboarding", "notOnboarded"]
    assert seen["count"] == 2


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_csdl_read_by_oasis_converter(sqlite_service, odata_js, version):
    out = run(odata_js, "csdl.mjs", f"{sqlite_service.httpd.base}/{version}",
              sqlite_service.keys.token())
    assert out["messages"] == []
    assert out["xmlAsJson"] == out["json"]
    partner = out["json"]["microsoft.graph"]["remoteAssistancePartner"]
    assert ("onboardingRequestExpiryDateTime" in partner) == (version == "beta")
