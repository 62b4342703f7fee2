from conftest import SEED_V1


def test_seed_request_is_created(service):
    resp = service.post(SEED_V1)
    assert resp.status_code == 201, resp.text
    assert service.backend.row(resp.json()["id"])["displayName"] == "Display Name value"
