"""Tenants kept apart, on SQLite and PostgreSQL: two tenants, every operation,
and ids that collide across them. Tenant A can neither read, change, delete
nor detect tenant B's partners."""
import pytest

from conftest import COLLECTION, SEED_V1, assert_graph_error, location_block
from graph_calls import Caller


@pytest.fixture
def tenants(service):
    """Tenants A and B, each with a partner of the same id, and one of A's own."""
    a, b = Caller(service), Caller(service)
    shared = f"shared-{a.tenant[:8]}"
    a_shared = a.create(id=shared, displayName="A's")
    b_shared = b.create(id=shared, displayName="B's")
    a_only = a.create(displayName="only A")
    return a, b, shared, a_shared, b_shared, a_only


def test_the_same_id_exists_once_in_each_tenant(tenants, service):
    a, b, shared, a_shared, b_shared, _ = tenants
    assert a.get(shared).json()["displayName"] == "A's"
    assert b.get(shared).json()["displayName"] == "B's"
    rows = [r for r in service.backend.rows() if r[0] == shared]
    assert len(rows) == 2


def test_lists_and_counts_are_per_tenant(tenants):
    a, b, shared, _, _, a_only = tenants
    assert sorted(a.ids()) == sorted([shared, a_only["id"]])
    assert b.ids() == [shared]
    assert a.count().text == "2" and b.count().text == "1"
    assert b.ids(**{"$filter": f"id eq '{a_only['id']}'"}) == []


@pytest.mark.parametrize("operation", ["get", "patch", "delete", "beginOnboarding",
                                       "disconnect"])
def test_another_tenants_partner_is_not_found(tenants, service, operation):
    a, b, _, _, _, a_only = tenants
    pid = a_only["id"]
    before = service.backend.rows()
    resp = {"get": lambda: b.get(pid),
            "patch": lambda: b.patch(pid, {"displayName": "taken over"}),
            "delete": lambda: b.delete(pid),
            "beginOnboarding": lambda: b.action(pid, "beginOnboarding"),
            "disconnect": lambda: b.action(pid, "disconnect")}[operation]()
    # exactly as for an id that exists nowhere: nothing to detect
    nowhere = {"get": lambda: b.get("nowhere"),
               "patch": lambda: b.patch("nowhere", {"displayName": "x"}),
               "delete": lambda: b.delete("nowhere"),
               "beginOnboarding": lambda: b.action("nowhere", "beginOnboarding"),
               "disconnect": lambda: b.action("nowhere", "disconnect")}[operation]()
    err = assert_graph_error(resp, 404, "ResourceNotFound")
    assert err["message"] == assert_graph_error(nowhere, 404, "ResourceNotFound")[
        "message"].replace("nowhere", pid)
    assert service.backend.rows() == before
    assert a.get(pid).json() == a_only


def test_an_etag_of_another_tenant_does_not_reveal_its_partner(tenants, service):
    a, b, shared, a_shared, b_shared, _ = tenants
    # B's If-Match with A's ETag is B's own mismatch, not a sign of A's row
    assert_graph_error(b.patch(shared, {"displayName": "x"},
                               headers={"If-Match": a_shared["@odata.etag"]}),
                       412, "PreconditionFailed")
    assert b.patch(shared, {"displayName": "B2"},
                   headers={"If-Match": b_shared["@odata.etag"]}).status_code == 200
    assert a.get(shared).json()["displayName"] == "A's"


def test_writes_touch_only_the_callers_row(tenants):
    a, b, shared, _, _, _ = tenants
    assert b.action(shared, "beginOnboarding").status_code == 204
    assert b.delete(shared).status_code == 204
    assert a.get(shared).json()["onboardingStatus"] == "notOnboarded"
    assert_graph_error(b.get(shared), 404, "ResourceNotFound")
    # B may now create the id again; A's stays
    assert b.request("POST", body={"id": shared}).status_code == 201
    assert a.get(shared).json()["displayName"] == "A's"


def test_a_taken_id_is_a_conflict_only_within_the_tenant(tenants):
    a, b, shared, _, _, a_only = tenants
    assert_graph_error(a.request("POST", body={"id": shared}), 409, "Conflict")
    assert b.request("POST", body={"id": a_only["id"]}).status_code == 201


def test_remote_assist_tenant_limits_the_tenants_a_section_serves(private_service, keys):
    jwks = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    allowed, other = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
    svc = private_service("tenant-limit", locations=location_block(
        f"/v1.0{COLLECTION}", "v1.0", jwks, f"    RemoteAssistTenant {allowed}"))
    assert Caller(svc, tenant=allowed).request("POST", body=SEED_V1).status_code == 201
    outsider = Caller(svc, tenant=other)
    with svc.nothing_stored():
        for resp in (outsider.request("POST", body=SEED_V1), outsider.list(),
                     outsider.count()):
            err = assert_graph_error(resp, 403, "Authorization_RequestDenied")
            assert "tenant" in err["message"]
