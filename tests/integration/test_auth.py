"""Bearer tokens: 401 for every invalid token, 403 for a valid one without the
permission, success for RS256, ES256 (JWKS by kid), PEM keys and HS256."""
import base64
import json
import time

import jwt
import pytest

from conftest import (MSA_TENANT, PERMISSION, SEED_V1, STRICT_AUDIENCE, STRICT_ISSUER,
                      assert_graph_error)


def b64(obj):
    raw = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def assert_401(service, resp, error="invalid_token"):
    assert_graph_error(resp, 401, "InvalidAuthenticationToken")
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer realm=")
    if error:
        assert f'error="{error}"' in challenge
        assert "error_description=" in challenge
    else:
        assert "error=" not in challenge


def test_missing_header_is_401_without_error_code(service):
    with service.nothing_stored():
        resp = service.post(SEED_V1, token=None)
    assert_401(service, resp, error=None)
    assert resp.json()["error"]["message"] == "Access token is empty."


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ",
                                    "Token abc.def.ghi", "Bearer abc def", "Bearer a\"b"])
def test_not_a_bearer_credential_is_401(service, header):
    with service.nothing_stored():
        resp = service.post(SEED_V1, token=None, headers={"Authorization": header})
    assert_401(service, resp)


def test_bearer_scheme_is_case_insensitive(service):
    resp = service.post(SEED_V1, token=None,
                        headers={"Authorization": "bearer " + service.keys.token()})
    assert resp.status_code == 201


def forged(service, case):
    keys = service.keys
    now = int(time.time())
    good = keys.token()
    head, payload, sig = good.split(".")
    return {
        "garbage": "not-a-jwt",
        "two_parts": f"{head}.{payload}",
        "bad_base64": f"{head}.!!!.{sig}",
        "header_not_json": f"{b64(b'nope')}.{payload}.{sig}",
        "alg_none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "alg_none_with_sig": f"{b64({'alg': 'none'})}.{payload}.{sig}",
        "alg_unknown": f"{b64({'alg': 'XS256', 'kid': 'rsa-1'})}.{payload}.{sig}",
        "tampered_payload": f"{head}.{b64(keys.claims(scp=PERMISSION + ' Extra'))}.{sig}",
        "tampered_signature": f"{head}.{payload}.{sig[:-4]}AAAA",
        "wrong_key_same_kid": keys.token(key=keys.rsa_other),
        "unknown_kid": keys.token(kid="rsa-9"),
        "hs256_with_rsa_public_key": jwt.encode(
            keys.claims(), "k" * 32, algorithm="HS256", headers={"kid": "rsa-1"}),
        "rs256_with_ec_kid": keys.token(alg="RS256", kid="ec-1"),
        "es256_with_rsa_kid": keys.token(alg="ES256", kid="rsa-1"),
        "rs512_with_key_pinned_rs256": keys.token(alg="RS512", kid="rsa-1"),
        # beyond the 300 s leeway by more than the seconds a slow run may
        # take between minting and the server's check
        "expired": keys.token(exp=now - 330, iat=now - 4000, nbf=now - 4000),
        "not_yet_valid": keys.token(nbf=now + 330),
        "issued_in_future": keys.token(iat=now + 400, nbf=None),
        "no_exp": keys.token(exp=None),
        "exp_string": keys.token(exp="tomorrow"),
        "wrong_audience": keys.token(aud="https://management.azure.com"),
        "no_audience": keys.token(aud=None),
        "audience_array_without_match": keys.token(aud=["a", "b"]),
        "crit_header": keys.token(headers={"crit": ["exp"]}),
        "scp_not_string": keys.token(scp=[PERMISSION]),
        "claims_not_object": f"{head}.{b64([1, 2])}.{sig}",
    }[case]


INVALID = ["garbage", "two_parts", "bad_base64", "header_not_json", "alg_none",
           "alg_none_with_sig", "alg_unknown", "tampered_payload", "tampered_signature",
           "wrong_key_same_kid", "unknown_kid", "hs256_with_rsa_public_key",
           "rs256_with_ec_kid", "es256_with_rsa_kid", "rs512_with_key_pinned_rs256",
           "expired", "not_yet_valid", "issued_in_future", "no_exp", "exp_string",
           "wrong_audience", "no_audience", "audience_array_without_match", "crit_header",
           "scp_not_string", "claims_not_object"]


@pytest.mark.parametrize("case", INVALID)
def test_invalid_token_is_401(service, case):
    with service.nothing_stored():
        resp = service.post(SEED_V1, token=forged(service, case))
    assert_401(service, resp)


def test_failure_reasons_are_distinct(service):
    reasons = {}
    for case in ("expired", "unknown_kid", "tampered_signature", "wrong_audience", "alg_none"):
        resp = service.post(SEED_V1, token=forged(service, case))
        reasons[case] = resp.headers["WWW-Authenticate"]
    assert len(set(reasons.values())) == len(reasons), reasons
    assert "expired" in reasons["expired"]
    assert "kid" in reasons["unknown_kid"]


def test_leeway_allows_small_clock_skew(service):
    now = int(time.time())
    ok = service.keys.token(exp=now - 200, iat=now - 3800, nbf=now - 3800)
    assert service.post(SEED_V1, token=ok).status_code == 201
    early = service.keys.token(nbf=now + 200, iat=now + 200)
    assert service.post(SEED_V1, token=early).status_code == 201


def test_zero_leeway_and_own_audience_and_issuer(service):
    keys = service.keys
    now = int(time.time())
    good = dict(aud=STRICT_AUDIENCE, iss=STRICT_ISSUER)
    assert service.post(SEED_V1, prefix="/strict", token=keys.token(**good)).status_code == 201
    for token in (keys.token(aud=STRICT_AUDIENCE, iss="https://sts.windows.net/other/"),
                  keys.token(aud=STRICT_AUDIENCE, iss=None),
                  keys.token(iss=STRICT_ISSUER),  # the default Graph audience is replaced
                  keys.token(exp=now - 2, iat=now - 100, nbf=now - 100, **good)):
        with service.nothing_stored():
            assert_401(service, service.post(SEED_V1, prefix="/strict", token=token))


def test_audience_may_be_an_array_and_the_graph_app_id(service):
    keys = service.keys
    for aud in (["api://x", "https://graph.microsoft.com"],
                "00000003-0000-0000-c000-000000000000"):
        assert service.post(SEED_V1, token=keys.token(aud=aud)).status_code == 201


def test_es256_token_verifies_by_kid(service):
    assert service.post(SEED_V1, token=service.keys.token(alg="ES256", kid="ec-1")).status_code == 201


def test_pem_key_verifies_tokens_with_or_without_kid(service):
    keys = service.keys
    for kid in (None, "anything"):
        resp = service.post(SEED_V1, prefix="/pem", token=keys.token(kid=kid))
        assert resp.status_code == 201, resp.text
    with service.nothing_stored():
        assert_401(service, service.post(SEED_V1, prefix="/pem",
                                         token=keys.token(key=keys.rsa_other)))


def test_hs256_secret_verifies_and_rsa_tokens_do_not(service):
    keys = service.keys
    resp = service.post(SEED_V1, prefix="/hs256", token=keys.token(alg="HS256", kid=None))
    assert resp.status_code == 201, resp.text
    with service.nothing_stored():
        assert_401(service, service.post(SEED_V1, prefix="/hs256", token=keys.token()))
        wrong = jwt.encode(keys.claims(), "w" * 64, algorithm="HS256")
        assert_401(service, service.post(SEED_V1, prefix="/hs256", token=wrong))


def test_application_token_with_role_is_accepted(service):
    token = service.keys.token(scp=None, roles=[PERMISSION], idtyp="app")
    assert service.post(SEED_V1, token=token).status_code == 201


@pytest.mark.parametrize("claims", [
    {"scp": "User.Read DeviceManagementServiceConfig.Read.All"},
    {"scp": PERMISSION + "X"},
    {"scp": None, "roles": ["DeviceManagementServiceConfig.Read.All"]},
    {"scp": None, "roles": None},
    {"scp": "", "roles": [PERMISSION]},  # delegated: roles do not grant it
])
def test_token_without_the_permission_is_403(service, claims):
    with service.nothing_stored():
        resp = service.post(SEED_V1, token=service.keys.token(**claims))
    err = assert_graph_error(resp, 403, "Authorization_RequestDenied")
    assert PERMISSION in err["message"]
    assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]


def test_personal_microsoft_account_is_403(service):
    with service.nothing_stored():
        resp = service.post(SEED_V1, token=service.keys.token(tid=MSA_TENANT))
    err = assert_graph_error(resp, 403, "Authorization_RequestDenied")
    assert "personal" in err["message"]


def test_token_never_reaches_the_error_log(service):
    token = service.keys.token()
    bad = forged(service, "tampered_signature")
    service.post(SEED_V1, token=token)
    service.post(SEED_V1, token=bad)
    log = service.log()
    for t in (token, bad):
        for part in t.split("."):
            if len(part) > 16:
                assert part not in log
