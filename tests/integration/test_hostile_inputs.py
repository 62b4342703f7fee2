"""Hostile input, one table of cases per family: bearer tokens, header fields,
bodies, chunking and framing, paths and methods, key files.

Every case sent to a server asserts the exact status and, where the module
answers, a Graph error body; that nothing was stored (or exactly what a valid
case stores); and that the server lives on: the same children still run, no
child crashed (AH00052), and the next good create answers 201. Cases go
through requests where it can send the bytes, else through a raw socket.

by_httpd marks answers httpd gives while it reads the request line and the
header fields, before it has mapped the URL to any module: only their status
is asserted. Where httpd refuses a request inside the module's URL space
(body framing, encoded path bytes, limits), the case asserts a Graph body.

RA_HOSTILE_SUMMARY=path writes the counts per family as JSON at the end.
"""
import datetime
import json
import os
import uuid
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import hostile
from conftest import (COLLECTION, GRAPH_CONTENT_TYPE, PERMISSION, SEED_V1, STRICT_AUDIENCE,
                      STRICT_ISSUER, STRICT_MAX_BODY, assert_graph_error, make_service)
from test_config import configtest, loc, make  # noqa: F401 (make is a fixture)

COLLECTION_PATH = f"/v1.0{COLLECTION}"
HS256_PATH = f"/hs256{COLLECTION_PATH}"
STRICT_PATH = f"/strict{COLLECTION_PATH}"
SEED_BYTES = json.dumps(SEED_V1).encode()
REQUEST_LINE_LIMIT = FIELD_LIMIT = 8190    # httpd's LimitRequestLine, LimitRequestFieldSize
FIELD_COUNT_LIMIT = 100                    # httpd's LimitRequestFields
TOKEN_LIMIT = 16384                        # RA_TOKEN_MAX_LENGTH
TUNED_FIELD_LIMIT = 20000
TUNED_TIMEOUT = 2
REQUEST_BODY_LIMIT = 1 << 30               # httpd's default LimitRequestBody

# Expect.headers values that are not literal
REQUEST_ID = "<the answer's own request-id>"
PRESENT = "<any value>"


# ------------------------------------------------------------ expectations

@dataclass(frozen=True)
class Expect:
    status: int | None          # None: an HTTP/0.9 answer, which has no status line
    code: str | None = None     # the Graph error code; None and stored 0: httpd's own answer
    stored: int = 0             # rows the case adds
    says: str = ""              # a piece of the Graph error message
    challenge: str = ""         # a piece of WWW-Authenticate
    headers: tuple = ()         # (name, value) the answer carries
    interim: tuple = ()         # 1xx answers before it (raw socket only)


def graph(status, code, says="", headers=()):
    return Expect(status, code, says=says, headers=tuple(headers))


def by_httpd(status):
    """httpd refuses the request before any module sees it."""
    return Expect(status)


CREATED = Expect(201, stored=1)
UNAUTHORIZED = Expect(401, "InvalidAuthenticationToken", challenge='error="invalid_token"')
FORBIDDEN = Expect(403, "Authorization_RequestDenied", challenge='error="insufficient_scope"')
BAD_REQUEST = graph(400, "BadRequest")
NOT_FOUND = graph(404, "ResourceNotFound")
COLLECTION_405 = graph(405, "MethodNotAllowed", headers=[("Allow", "GET, POST, OPTIONS")])
TOO_LARGE = graph(413, "RequestEntityTooLarge")
UNSUPPORTED = graph(415, "UnsupportedMediaType")
NOT_ACCEPTABLE = graph(406, "NotAcceptable")


def invalid_property(name):
    return graph(400, "BadRequest", says=f"'{name}'")


def invalid_json(where):
    return graph(400, "BadRequest", says=f"Invalid JSON at {where}")


# ------------------------------------------------------------ what is sent

def valid(keys):
    return "Bearer " + keys.token()


def strict(keys):
    return "Bearer " + keys.token(aud=STRICT_AUDIENCE, iss=STRICT_ISSUER)


@dataclass(frozen=True)
class Post:
    """A request through requests (Service.post). data: bytes or str, or a
    function returning them; authorization: a function of the keys giving the
    field's value, or None for no field; headers: (name, value), None removes."""
    data: object = SEED_BYTES
    authorization: object = valid
    headers: tuple = ()
    path: str = COLLECTION_PATH
    method: str = "POST"


@dataclass(frozen=True)
class Raw:
    """Bytes over a raw socket: build(keys) gives them; half_close shuts the
    sending side after them."""
    build: object
    half_close: bool = False


@dataclass(frozen=True)
class Case:
    id: str
    given: object               # a Post or a Raw
    expect: object              # an Expect, or one per answer for several
    tuned: bool = False         # sent to tuned_service instead of service


def case_id(case):
    return case.id


def raw_post(keys, *fields, body=SEED_BYTES, authorization=valid, length=True, close=True,
             target=COLLECTION_PATH, method="POST", version="HTTP/1.1"):
    """A create's bytes: Host, Content-Type, Authorization (unless None),
    Content-Length (unless length is false), Connection: close (unless close
    is false), then fields."""
    base = [("Host", "127.0.0.1"), ("Content-Type", "application/json")]
    if authorization:
        base.append(("Authorization", authorization(keys)))
    if length:
        base.append(("Content-Length", str(len(body))))
    if close:
        base.append(("Connection", "close"))
    return hostile.http_request(method, target, base + list(fields), body, version)


def raw(*fields, half_close=False, **kw):
    return Raw(lambda keys: raw_post(keys, *fields, **kw), half_close)


def send(target, given):
    if isinstance(given, Raw):
        return hostile.exchange(target.httpd.port, given.build(target.keys), given.half_close)
    keys = target.keys
    headers = dict(given.headers)
    headers.setdefault("Authorization", given.authorization(keys) if given.authorization
                       else None)
    data = given.data() if callable(given.data) else given.data
    return [target.post(token=None, headers=headers, data=data, method=given.method,
                        url=target.httpd.base + given.path)]


# ------------------------------------------------------------ the checks

def check_answer(resp, expect):
    if expect.status is None:  # HTTP/0.9: the body alone
        assert resp.status_code is None and not resp.headers, resp.content[:300]
        assert resp.json()["error"]["code"] == expect.code
        return
    assert resp.status_code == expect.status, resp.text[:500]
    if expect.code:
        err = assert_graph_error(resp, expect.status, expect.code)
        assert expect.says in err["message"], err["message"]
    elif expect.stored:
        assert resp.headers["Content-Type"] == GRAPH_CONTENT_TYPE
        assert resp.json()["id"]
    if expect.challenge:
        assert expect.challenge in resp.headers["WWW-Authenticate"]
    for name, value in expect.headers:
        actual = resp.headers.get(name)
        if value is PRESENT:
            assert actual, (name, resp.headers)
        else:
            assert actual == (resp.headers["request-id"] if value is REQUEST_ID else value), \
                (name, resp.headers)
    if expect.interim:
        assert resp.interim == list(expect.interim)


def check_case(request, service, case):
    target = request.getfixturevalue("tuned_service") if case.tuned else service
    expects = case.expect if isinstance(case.expect, tuple) else (case.expect,)
    stored = sum(e.stored for e in expects)
    children = target.httpd.child_pids()
    log_start = len(target.log())
    if stored:
        before = target.backend.count()
        answers = send(target, case.given)
        assert target.backend.count() == before + stored
    else:
        with target.nothing_stored():
            answers = send(target, case.given)
    assert [a.status_code for a in answers] == [e.status for e in expects], \
        [(a.headers.get("Content-Type"), a.text[:300]) for a in answers]
    for answer, expect in zip(answers, expects):
        check_answer(answer, expect)
    # the server lives on: a good create, the same children, no crash logged
    assert target.post(SEED_V1).status_code == 201
    assert all(hostile.alive(pid) for pid in children), "an httpd child died"
    assert "AH00052" not in target.log()[log_start:]


@pytest.fixture(scope="module")
def tuned_service(service, workroot, keys):
    """The same database behind a second httpd whose limits let the module's
    own show: a field limit above the module's token limit, and a short
    Timeout, so that a body that never comes ends in seconds."""
    svc = make_service(workroot.mktemp(f"httpd-tuned-{service.backend.name}"), keys,
                       service.backend, extra_config=f"LimitRequestFieldSize {TUNED_FIELD_LIMIT}\n"
                                                     f"Timeout {TUNED_TIMEOUT}")
    yield svc
    svc.httpd.stop()


# ------------------------------------------------------------ tokens
# New relatives only: test_auth.py holds the ordinary invalid tokens and
# test_security_regressions.py the literal tokens of issue 7.

RS_HEADER = {"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}
HS_HEADER = {"alg": "HS256", "typ": "JWT"}


def bearer(build, path=COLLECTION_PATH):
    """A Post whose Authorization is 'Bearer ' + build(keys)."""
    return Post(authorization=lambda keys: "Bearer " + build(keys), path=path)


def signed(header=RS_HEADER, claims=None, alg="RS256", path=COLLECTION_PATH, **overrides):
    """A token validly signed (rsa-1, or the /hs256 secret) over header and
    claims: JSON values or bytes; claims may be a function of the usual
    claims (keys.claims(**overrides))."""
    def build(keys):
        sign = (hostile.hs256(keys.secret_value.encode()) if alg == "HS256"
                else hostile.rs256(keys.rsa))
        payload = keys.claims(**overrides)
        if claims is not None:
            payload = claims(payload) if callable(claims) else claims
        return hostile.jws(header, payload, sign)
    return bearer(build, path)


def literal(name, text):
    """Claims whose member name holds JSON text json.dumps will not write."""
    marker = "__literal__"
    return lambda claims: json.dumps(dict(claims, **{name: marker})).replace(
        f'"{marker}"', text).encode()


def set_member(**members):
    """Claims with members set as given, None included (JSON null)."""
    return lambda claims: dict(claims, **members)


SEGMENT_FAULTS = {
    "padded": lambda s: s + "=",
    "length_1_mod_4": lambda s: s[:-((len(s) - 1) % 4 or 4)],
    "inner_equals": lambda s: s[:4] + "=" + s[4:],
}


def segment_fault(index, fault, alg="RS256", path=COLLECTION_PATH):
    """A valid token with one segment made non-strict base64url."""
    def build(keys):
        parts = keys.token(alg=alg, kid=None if alg == "HS256" else "rsa-1").split(".")
        parts[index] = SEGMENT_FAULTS[fault](parts[index])
        return ".".join(parts)
    return bearer(build, path)


def token_of_length(n):
    """A valid token whose signature is padded with 'A's to n bytes in all."""
    return bearer(lambda keys: keys.token().ljust(n, "A"))


def field_line_of_length(n):
    """'Authorization: Bearer <token>' of n bytes (without CRLF)."""
    return token_of_length(n - len("Authorization: Bearer "))


def authorization_fields(*values):
    """Authorization fields sent verbatim: each value a function of the keys
    giving bytes."""
    return Raw(lambda keys: raw_post(keys, *[(b"Authorization", v(keys)) for v in values],
                                     authorization=None))


def spliced(insert, at=20):
    """'Bearer ' + a valid token with insert placed inside it, as bytes."""
    def value(keys):
        token = keys.token().encode()
        return b"Bearer " + token[:at] + insert + token[at:]
    return value


def nested(depth):
    return "[" * depth + "]" * depth


TOKEN_CASES = [
    # '=' or a length of 1 mod 4 in each segment of an otherwise valid token
    *[Case(f"{segment}_{fault}", segment_fault(i, fault), UNAUTHORIZED)
      for i, segment in enumerate(("header", "payload", "signature"))
      for fault in SEGMENT_FAULTS],
    Case("hs256_signature_padded", segment_fault(2, "padded", "HS256", HS256_PATH),
         UNAUTHORIZED),
    Case("hs256_payload_length_1_mod_4", segment_fault(1, "length_1_mod_4", "HS256", HS256_PATH),
         UNAUTHORIZED),
    Case("four_segments", bearer(lambda keys: keys.token() + ".c2ln"), UNAUTHORIZED),
    Case("jwe_shaped_five_segments", bearer(lambda keys: keys.token() + ".e30.e30"),
         UNAUTHORIZED),
    Case("only_dots", bearer(lambda keys: "...."), UNAUTHORIZED),
    Case("leading_dot", bearer(lambda keys: "." + keys.token()), UNAUTHORIZED),
    Case("trailing_dot", bearer(lambda keys: keys.token() + "."), UNAUTHORIZED),
    Case("standard_base64_alphabet", bearer(lambda keys: keys.token()[:-2] + "+/"),
         UNAUTHORIZED),
    # sizes: httpd's field limit first, then the module's own token limit
    Case("field_line_at_httpd_limit", field_line_of_length(FIELD_LIMIT), UNAUTHORIZED),
    Case("field_line_over_httpd_limit", field_line_of_length(FIELD_LIMIT + 2), by_httpd(400)),
    Case("token_at_module_limit", token_of_length(TOKEN_LIMIT), UNAUTHORIZED, tuned=True),
    Case("token_over_module_limit", token_of_length(TOKEN_LIMIT + 1), UNAUTHORIZED, tuned=True),
    # bytes in the field: httpd refuses control bytes, the module the rest
    Case("nul_byte_in_field", authorization_fields(spliced(b"\x00")), by_httpd(400)),
    Case("control_byte_in_field", authorization_fields(spliced(b"\x01")), by_httpd(400)),
    Case("escape_sequence_in_field", authorization_fields(spliced(b"\x1b[2J")), by_httpd(400)),
    Case("utf8_in_token", authorization_fields(spliced("\u00e9".encode())), UNAUTHORIZED),
    Case("latin1_byte_in_token", authorization_fields(spliced(b"\xe9", at=0)), UNAUTHORIZED),
    # bytes inside the decoded header and claims
    Case("nul_escape_in_header_json", signed(dict(RS_HEADER, kid="rsa-1\u0000")), UNAUTHORIZED),
    Case("control_byte_in_header_json", signed(b'{"alg":"RS256","kid":"rsa-1\x01"}'),
         UNAUTHORIZED),
    Case("invalid_utf8_in_header_json", signed(b'{"alg":"RS256","kid":"\xff\xfe"}'),
         UNAUTHORIZED),
    Case("non_ascii_kid", signed(dict(RS_HEADER, kid="rsa-1\u00e9")), UNAUTHORIZED),
    Case("nul_escape_in_claims", signed(sub="a\u0000b"), UNAUTHORIZED),
    Case("invalid_utf8_in_claims", signed(claims=lambda c: json.dumps(c).encode()[:-1]
                                          + b', "x": "\xc0\xaf"}'), UNAUTHORIZED),
    # header JSON of the wrong shape
    Case("header_is_array", signed(["RS256", "rsa-1"]), UNAUTHORIZED),
    Case("header_is_number", signed(256), UNAUTHORIZED),
    Case("header_is_string", signed("RS256"), UNAUTHORIZED),
    Case("header_is_empty_object", signed({}), UNAUTHORIZED),
    # jansson stops at depth 2048; 2100 still fits httpd's field limit
    Case("header_nested_beyond_parser_depth", signed(
        json.dumps(RS_HEADER)[:-1].encode() + b', "x": ' + nested(2100).encode() + b"}"),
         UNAUTHORIZED),
    Case("header_huge_wrong_key", bearer(lambda keys: hostile.jws(
        dict(RS_HEADER, x="h" * 5000), keys.claims(), hostile.rs256(keys.rsa_other))),
         UNAUTHORIZED),
    # alg and kid of the wrong type or form
    *[Case(f"alg_{name}", signed(dict(RS_HEADER, alg=alg)), UNAUTHORIZED) for name, alg in [
        ("number", 256), ("null", None), ("array", ["RS256"]), ("object", {"name": "RS256"}),
        ("lower_case", "rs256"), ("trailing_space", "RS256 "), ("empty", "")]],
    *[Case(f"kid_{name}", signed(dict(RS_HEADER, kid=kid)), UNAUTHORIZED) for name, kid in [
        ("number", 1), ("null", None), ("array", ["rsa-1"]), ("object", {"id": "rsa-1"}),
        ("empty", ""), ("5000_chars", "k" * 5000)]],
    # validly signed claims with hostile values
    Case("exp_minus_1e308", signed(exp=-1e308), UNAUTHORIZED),
    Case("nbf_1e308", signed(nbf=1e308), UNAUTHORIZED),
    Case("iat_1e308", signed(iat=1e308), UNAUTHORIZED),
    Case("exp_1e309_overflows", signed(claims=literal("exp", "1e309")), UNAUTHORIZED),
    Case("exp_30_digit_integer", signed(claims=literal("exp", "1" + "0" * 29)), UNAUTHORIZED),
    Case("exp_nan_string", signed(exp="NaN"), UNAUTHORIZED),
    Case("exp_infinity_string", signed(exp="Infinity"), UNAUTHORIZED),
    Case("exp_array", signed(claims=lambda c: dict(c, exp=[c["exp"]])), UNAUTHORIZED),
    Case("exp_object", signed(claims=lambda c: dict(c, exp={"value": c["exp"]})), UNAUTHORIZED),
    Case("exp_true", signed(exp=True), UNAUTHORIZED),
    Case("exp_null", signed(claims=set_member(exp=None)), UNAUTHORIZED),
    # a far-future exp is a valid token: no overflow, no crash
    Case("exp_1e308_far_future", signed(exp=1e308), CREATED),
    Case("aud_object", signed(aud={"aud": "https://graph.microsoft.com"}), UNAUTHORIZED),
    Case("aud_nested_array", signed(aud=[["https://graph.microsoft.com"]]), UNAUTHORIZED),
    Case("aud_number", signed(aud=3), UNAUTHORIZED),
    Case("aud_null", signed(claims=set_member(aud=None)), UNAUTHORIZED),
    Case("aud_array_of_non_strings", signed(aud=[1, None, {}, []]), UNAUTHORIZED),
    Case("roles_nested_arrays", signed(scp=None, roles=[[PERMISSION]]), FORBIDDEN),
    Case("roles_object", signed(scp=None, roles={"0": PERMISSION}), UNAUTHORIZED),
    Case("roles_string", signed(scp=None, roles=PERMISSION), UNAUTHORIZED),
    *[Case(f"scp_{name}_separated", signed(scp=f"User.Read{sep}{PERMISSION}"), FORBIDDEN)
      for name, sep in [("tab", "\t"), ("newline", "\n"), ("nbsp", "\u00a0"),
                        ("comma", ",")]],
    Case("scp_permission_with_nul", signed(scp=f"{PERMISSION}\u0000"), UNAUTHORIZED),
    # duplicate members: RFC 7515 4 allows keeping the last one, but the
    # module refuses duplicate claims, and an ambiguous alg or kid is worse
    Case("duplicate_exp_in_claims", signed(claims=lambda c: hostile.with_duplicate(
        c, "exp", 1)), UNAUTHORIZED),
    Case("duplicate_scp_in_claims", signed(claims=lambda c: hostile.with_duplicate(
        dict(c, scp=PERMISSION), "scp", "User.Read")), UNAUTHORIZED),
    Case("duplicate_alg_in_header", signed(hostile.with_duplicate(RS_HEADER, "alg", "none")),
         UNAUTHORIZED),
    Case("duplicate_kid_in_header", signed(hostile.with_duplicate(RS_HEADER, "kid", "ec-1")),
         UNAUTHORIZED),
    # HS256 through the shared-secret location
    Case("hs256_exp_array", signed(HS_HEADER, alg="HS256", path=HS256_PATH,
                                   claims=lambda c: dict(c, exp=[c["exp"]])), UNAUTHORIZED),
    Case("hs256_aud_object", signed(HS_HEADER, alg="HS256", path=HS256_PATH,
                                    aud={"aud": "https://graph.microsoft.com"}), UNAUTHORIZED),
    Case("hs256_header_is_array", signed(["HS256"], alg="HS256", path=HS256_PATH),
         UNAUTHORIZED),
    Case("hs256_roles_nested_arrays", signed(HS_HEADER, alg="HS256", path=HS256_PATH, scp=None,
                                             roles=[[PERMISSION]]), FORBIDDEN),
    # the Authorization field's own syntax
    Case("bearer_then_tabs", Post(authorization=lambda keys: "Bearer\t\t" + keys.token()),
         UNAUTHORIZED),
    Case("tab_inside_token", authorization_fields(spliced(b"\t")), UNAUTHORIZED),
    Case("bearer_without_space", Post(authorization=lambda keys: "Bearer" + keys.token()),
         UNAUTHORIZED),
    Case("bearer_twice", Post(authorization=lambda keys: "Bearer Bearer " + keys.token()),
         UNAUTHORIZED),
    Case("quoted_token", Post(authorization=lambda keys: f'Bearer "{keys.token()}"'),
         UNAUTHORIZED),
    Case("two_tokens_comma", Post(authorization=lambda keys: valid(keys) + "," + keys.token()),
         UNAUTHORIZED),
    Case("two_authorization_fields", authorization_fields(
        lambda keys: valid(keys).encode(), lambda keys: valid(keys).encode()), UNAUTHORIZED),
    Case("basic_field_then_bearer_field", authorization_fields(
        lambda keys: b"Basic dXNlcjpwYXNz", lambda keys: valid(keys).encode()), UNAUTHORIZED),
]


@pytest.mark.parametrize("case", TOKEN_CASES, ids=case_id)
def test_hostile_token(request, service, case):
    check_case(request, service, case)


# ------------------------------------------------------------ header fields

def headers(**fields):
    """A Post with header fields; '_' in a name stands for '-'."""
    return Post(headers=tuple((name.replace("_", "-"), value) for name, value in fields.items()))


def refused_with(**fields):
    """A Post without a token (so 401) carrying fields."""
    return Post(authorization=None, headers=headers(**fields).headers)


def replaced(old, new):
    """A good create's bytes with old replaced by new."""
    return Raw(lambda keys: raw_post(keys).replace(old, new))


NOT_ECHOED = graph(401, "InvalidAuthenticationToken",
                   headers=[("client-request-id", REQUEST_ID)])
CORS = [("Access-Control-Allow-Origin", "*")]

HEADER_CASES = [
    # Content-Type
    Case("content_type_charset_latin1", headers(Content_Type="application/json; charset=latin1"),
         UNSUPPORTED),
    Case("content_type_empty", headers(Content_Type=""), UNSUPPORTED),
    Case("content_type_quoted_utf8", headers(Content_Type='application/json;charset="utf-8"'),
         CREATED),
    Case("content_type_upper_case", headers(Content_Type="Application/JSON; Charset=UTF-8"),
         CREATED),
    Case("content_type_jsonx", headers(Content_Type="application/jsonx"), UNSUPPORTED),
    Case("content_type_json_suffix", headers(Content_Type="application/merge-patch+json"),
         UNSUPPORTED),
    Case("content_type_wildcard", headers(Content_Type="*/*"), UNSUPPORTED),
    Case("content_type_empty_charset", headers(Content_Type="application/json;charset="),
         UNSUPPORTED),
    Case("content_type_repeated_charset", headers(
        Content_Type="application/json;charset=latin1;charset=utf-8"), UNSUPPORTED),
    Case("content_type_very_long", headers(
        Content_Type="application/json;" + "x=y;" * 1800 + "charset=utf-16"), UNSUPPORTED),
    Case("content_type_two_fields", raw(("Content-Type", "text/plain")),
         UNSUPPORTED),
    # Accept
    Case("accept_json_q_0_000", headers(Accept="application/json;q=0.000"), NOT_ACCEPTABLE),
    Case("accept_any_q_0", headers(Accept="*/*;q=0"), NOT_ACCEPTABLE),
    Case("accept_application_any_q_0", headers(Accept="application/*;q=0"), NOT_ACCEPTABLE),
    Case("accept_json_q_0_beats_any", headers(Accept="*/*, application/json;q=0"),
         NOT_ACCEPTABLE),
    Case("accept_text_any", headers(Accept="text/*"), NOT_ACCEPTABLE),
    Case("accept_any_q_0_001", headers(Accept="*/*;q=0.001"), CREATED),
    Case("accept_600_ranges_json_last", headers(
        Accept=", ".join(f"text/x-{i}" for i in range(600)) + ", application/json"), CREATED),
    # client-request-id: echoed only when it is 1-128 printable characters
    Case("client_request_id_129_chars", refused_with(client_request_id="c" * 129), NOT_ECHOED),
    Case("client_request_id_space", refused_with(client_request_id="a b"), NOT_ECHOED),
    Case("client_request_id_quote", refused_with(client_request_id='a"b'), NOT_ECHOED),
    Case("client_request_id_backslash", refused_with(client_request_id="a\\b"), NOT_ECHOED),
    Case("client_request_id_non_ascii", refused_with(client_request_id="\u00e9".encode()),
         NOT_ECHOED),
    Case("client_request_id_empty", refused_with(client_request_id=""), NOT_ECHOED),
    Case("client_request_id_128_chars_is_echoed", refused_with(client_request_id="c" * 128),
         graph(401, "InvalidAuthenticationToken",
               headers=[("client-request-id", "c" * 128)])),
    Case("client_request_id_control_byte", raw((b"client-request-id", b"a\x07b")),
         by_httpd(400)),
    # Origin: errors are readable cross-origin too
    Case("origin_on_415", headers(Origin="https://admin.contoso.com", Content_Type="text/plain"),
         graph(415, "UnsupportedMediaType", headers=CORS)),
    Case("origin_null_on_401", refused_with(Origin="null"),
         graph(401, "InvalidAuthenticationToken", headers=CORS)),
    Case("origin_7000_chars_on_401", refused_with(Origin="https://" + "o" * 7000),
         graph(401, "InvalidAuthenticationToken", headers=CORS)),
    # sizes and counts
    Case("field_over_httpd_limit", headers(X_Padding="p" * (FIELD_LIMIT + 10)), by_httpd(400)),
    Case("fields_over_httpd_count", raw(
        *[(f"X-Field-{i}", "1") for i in range(FIELD_COUNT_LIMIT)]), by_httpd(400)),
    Case("fields_at_httpd_count", raw(
        *[(f"X-Field-{i}", "1") for i in range(FIELD_COUNT_LIMIT - 5)]), CREATED),
    # field syntax: httpd unfolds obs-fold and refuses the rest itself
    Case("obs_fold_in_content_type", replaced(b"application/json", b"application/json;\r\n "
                                              b"charset=utf-8"), CREATED),
    Case("obs_fold_in_authorization", replaced(b"Authorization: Bearer ",
                                               b"Authorization: Bearer\r\n\t"), CREATED),
    Case("obs_fold_before_first_field", replaced(b"\r\nHost", b"\r\n X-Folded: 1\r\nHost"),
         by_httpd(400)),
    Case("space_in_field_name", raw(b"X Forwarded: 1"), by_httpd(400)),
    Case("space_before_colon", raw(b"X-Forwarded : 1"), by_httpd(400)),
    Case("field_without_colon", raw(b"X-Forwarded"), by_httpd(400)),
    Case("empty_field_name", raw(b": 1"), by_httpd(400)),
    Case("separator_in_field_name", raw(b"X(Forwarded): 1"), by_httpd(400)),
    Case("nul_in_field_value", raw(b"X-Forwarded: a\x00b"), by_httpd(400)),
    Case("bare_lf_line_ends", replaced(b"\r\n", b"\n"), by_httpd(400)),
    Case("bare_cr_in_field", replaced(b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\r\r\n"),
         by_httpd(400)),
    Case("two_host_fields", replaced(b"Host: 127.0.0.1\r\n", b"Host: a\r\nHost: b\r\n"),
         by_httpd(400)),
    Case("no_host_in_http_1_1", replaced(b"Host: 127.0.0.1\r\n", b""), by_httpd(400)),
]


@pytest.mark.parametrize("case", HEADER_CASES, ids=case_id)
def test_hostile_header(request, service, case):
    check_case(request, service, case)


# ------------------------------------------------------------ bodies

def body(data):
    return Post(data=data)


def seed_with(**members):
    return body(json.dumps(dict(SEED_V1, **members)))


def seed_without(name):
    return body(json.dumps({k: v for k, v in SEED_V1.items() if k != name}))


def fresh_id(length):
    """A seed body with a new id of length characters (an id is stored once)."""
    return body(lambda: json.dumps(dict(SEED_V1, id=(uuid.uuid4().hex * 5)[:length])))


def body_of_size(size, text="\u00e9" * 100):
    """A JSON object of exactly size bytes of UTF-8: a displayName, then spaces."""
    start = f'{{"displayName": "{text}"'.encode()
    return start + b" " * (size - len(start) - 1) + b"}"


def strict_body(size):
    """A body of size bytes for /strict (RemoteAssistMaxBody STRICT_MAX_BODY)."""
    return Post(data=body_of_size(size), authorization=strict, path=STRICT_PATH)


BAD_DATETIME = invalid_property("lastConnectionDateTime")

BODY_CASES = [
    Case("whitespace_only", body(" \r\n\t "), invalid_json("line 2, column")),
    Case("unterminated_string", body('{"displayName": "abc'), invalid_json("line 1, column")),
    Case("invalid_escape", body('{"displayName": "\\x41"}'), invalid_json("line 1, column")),
    Case("single_quotes", body("{'displayName': 'x'}"), invalid_json("line 1, column")),
    Case("unquoted_member_name", body("{displayName: 1}"), invalid_json("line 1, column")),
    Case("comment", body('{/* c */ "displayName": "x"}'), invalid_json("line 1, column")),
    Case("nan_literal", body('{"displayName": NaN}'), invalid_json("line 1, column")),
    Case("garbage_on_line_4", body('{\n"displayName": "x"\n}\n  x'), invalid_json("line 4")),
    Case("number_overflow", body('{"displayName": 1e999}'), invalid_json("line 1, column")),
    Case("integer_too_big", body('{"displayName": 123456789012345678901234567890}'),
         invalid_json("line 1, column")),
    *[Case(f"top_level_{name}", body(data), graph(400, "BadRequest", says="JSON object"))
      for name, data in [("empty_string", '""'), ("negative_zero", "-0"), ("false", "false"),
                         ("array_of_object", "[{}]")]],
    Case("duplicate_id", body('{"id": "a", "id": "b"}'), graph(400, "BadRequest",
                                                                 says="duplicate")),
    Case("duplicate_odata_type", body('{"@odata.type": "#microsoft.graph.remoteAssistancePartner",'
                                      ' "@odata.type": "x"}'), graph(400, "BadRequest",
                                                                     says="duplicate")),
    Case("nested_3000_objects", body('{"a":' * 3000 + "1" + "}" * 3000),
         graph(400, "BadRequest", says="depth")),
    Case("string_of_60000_chars", seed_with(displayName="s" * 60000),
         invalid_property("displayName")),
    # encodings
    Case("overlong_utf8", body(b'{"displayName": "\xc0\xaf"}'), invalid_json("line 1, column")),
    Case("utf8_encoded_surrogate", body(b'{"displayName": "\xed\xa0\x80"}'),
         invalid_json("line 1, column")),
    Case("truncated_utf8", body(b'{"displayName": "\xe2\x82"}'), invalid_json("line 1, column")),
    Case("five_byte_utf8", body(b'{"displayName": "\xf8\x88\x80\x80\x80"}'),
         invalid_json("line 1, column")),
    Case("utf16_with_bom", body(b"\xff\xfe" + SEED_BYTES.decode().encode("utf-16-le")),
         invalid_json("line 1, column")),
    Case("utf8_bom", body(b"\xef\xbb\xbf" + SEED_BYTES), invalid_json("line 1, column")),
    Case("nul_escape_in_member_name", body('{"display\\u0000Name": "x"}'), BAD_REQUEST),
    Case("raw_control_byte_in_string", body(b'{"displayName": "a\x01b"}'), BAD_REQUEST),
    Case("lone_high_surrogate", body('{"displayName": "a\\ud800b"}'), BAD_REQUEST),
    Case("lone_low_surrogate", body('{"displayName": "a\\udc00b"}'), BAD_REQUEST),
    Case("reversed_surrogate_pair", body('{"displayName": "\\udc00\\ud800"}'), BAD_REQUEST),
    # members
    Case("unknown_object_member", seed_with(settings={}), invalid_property("settings")),
    Case("member_name_with_trailing_space", body('{"displayName ": "x"}'),
         invalid_property("displayName ")),
    Case("member_names_differing_in_case", body('{"displayName": "a", "DisplayName": "b"}'),
         invalid_property("DisplayName")),
    Case("property_annotation_is_ignored", seed_with(**{"displayName@odata.type": "Edm.String"}),
         CREATED),
    *[Case(f"{name}_as_{kind}", seed_with(**{name: value}), invalid_property(name))
      for name, kind, value in [
          ("id", "bool", True), ("id", "object", {"id": "x"}), ("id", "array", ["x"]),
          ("onboardingUrl", "object", {}), ("onboardingUrl", "array", []),
          ("onboardingStatus", "array", ["onboarded"]), ("onboardingStatus", "bool", False),
          ("lastConnectionDateTime", "bool", True), ("lastConnectionDateTime", "object", {}),
          ("displayName", "negative_number", -1)]],
    # bounds
    Case("displayName_256_chars", seed_with(displayName="d" * 256), CREATED),
    Case("displayName_257_chars", seed_with(displayName="d" * 257),
         invalid_property("displayName")),
    Case("onboardingUrl_2048_chars", seed_with(onboardingUrl="https://e.example/"
                                               + "u" * 2030), CREATED),
    Case("onboardingUrl_2049_chars", seed_with(onboardingUrl="https://e.example/" + "u" * 2031),
         invalid_property("onboardingUrl")),
    Case("id_128_chars", fresh_id(128), CREATED),
    Case("id_129_chars", fresh_id(129), invalid_property("id")),
    *[Case(f"id_with_{name}", seed_with(id=f"a{char}b"), invalid_property("id"))
      for name, char in [("slash", "/"), ("parenthesis", "("), ("percent", "%"),
                         ("asterisk", "*"), ("non_ascii", "\u00e9"), ("backslash", "\\")]],
    # DateTimeOffset edge cases
    *[Case(f"datetime_{name}", seed_with(lastConnectionDateTime=value), expect)
      for name, value, expect in [
          ("feb_29_2100", "2100-02-29T00:00:00Z", BAD_DATETIME),
          ("feb_29_2000", "2000-02-29T00:00:00Z", CREATED),
          ("hour_24", "2016-12-31T24:00:00Z", BAD_DATETIME),
          ("second_60", "2016-12-31T23:59:60Z", BAD_DATETIME),
          ("month_13", "2016-13-01T00:00:00Z", BAD_DATETIME),
          ("year_0000", "0000-01-01T00:00:00Z", BAD_DATETIME),
          ("offset_plus_14_00", "2016-12-31T23:00:00+14:00", CREATED),
          ("offset_plus_14_01", "2016-12-31T23:00:00+14:01", BAD_DATETIME),
          ("offset_minus_14_01", "2016-12-31T23:00:00-14:01", BAD_DATETIME),
          ("8_fraction_digits", "2016-12-31T23:59:59.12345678Z", BAD_DATETIME),
          ("7_fraction_digits", "2016-12-31T23:59:59.1234567Z", CREATED),
          ("lower_case_t", "2016-12-31t23:59:59Z", BAD_DATETIME),
          ("lower_case_z", "2016-12-31T23:59:59z", BAD_DATETIME)]],
    # onboardingStatus and @odata.type
    *[Case(f"onboardingStatus_{name}", seed_with(onboardingStatus=value),
           invalid_property("onboardingStatus"))
      for name, value in [("upper_case", "ONBOARDED"), ("trailing_space", "onboarded "),
                          ("lower_case", "notonboarded"),
                          ("unknown_future_value", "unknownFutureValue")]],
    Case("odata_type_absent", seed_without("@odata.type"), CREATED),
    *[Case(f"odata_type_{name}", seed_with(**{"@odata.type": value}),
           invalid_property("@odata.type"))
      for name, value in [("other_case", "#microsoft.graph.RemoteAssistancePartner"),
                          ("without_hash", "microsoft.graph.remoteAssistancePartner"),
                          ("null", None), ("array", ["#microsoft.graph.remoteAssistancePartner"])]],
    # RemoteAssistMaxBody, counted in bytes
    Case("at_max_body_in_multibyte_utf8", strict_body(STRICT_MAX_BODY), CREATED),
    Case("one_byte_over_max_body", strict_body(STRICT_MAX_BODY + 1), TOO_LARGE),
]


@pytest.mark.parametrize("case", BODY_CASES, ids=case_id)
def test_hostile_body(request, service, case):
    check_case(request, service, case)


# ------------------------------------------------------------ chunking and framing

def chunked(data, size=None, last=b"0\r\n\r\n"):
    """data in chunks of size bytes (one chunk by default), then last."""
    size = size or len(data)
    return b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size])
                    for i in range(0, len(data), size)) + last


def chunked_post(encoded, te="chunked", length=False, **kw):
    """A create with its body sent as encoded, under Transfer-Encoding te
    (and a Content-Length too if length)."""
    return raw(("Transfer-Encoding", te), body=encoded, length=length, **kw)


def with_length(value, **kw):
    """A create whose Content-Length field says value."""
    return raw(("Content-Length", value), length=False, **kw)


def pipelined(*builds):
    """Requests written at once; each build(keys) gives one's bytes."""
    return Raw(lambda keys: b"".join(build(keys) for build in builds))


def keep_open(keys, **kw):
    return raw_post(keys, close=False, **kw)


SEED_CHUNK = b"%x\r\n" % len(SEED_BYTES) + SEED_BYTES

FRAMING_CASES = [
    Case("valid_chunked", chunked_post(chunked(SEED_BYTES)), CREATED),
    Case("one_byte_chunks", chunked_post(chunked(SEED_BYTES, 1)), CREATED),
    Case("chunk_extension", chunked_post(SEED_CHUNK.replace(b"\r\n", b";name=value\r\n", 1)
                                         + b"\r\n0\r\n\r\n"), CREATED),
    Case("upper_case_hex_with_leading_zeros", chunked_post(
        b"0000%X\r\n" % len(SEED_BYTES) + SEED_BYTES + b"\r\n0\r\n\r\n"), CREATED),
    Case("trailer_field", chunked_post(chunked(SEED_BYTES, last=b"0\r\nX-Trailer: 1\r\n\r\n")),
         CREATED),
    # malformed chunks: httpd's HTTP_IN filter refuses them inside the module's
    # URL space, so the answer is a Graph body
    Case("chunk_size_not_hex", chunked_post(b"zz\r\n" + SEED_BYTES + b"\r\n0\r\n\r\n"),
         BAD_REQUEST),
    Case("chunk_size_negative", chunked_post(b"-5\r\n" + SEED_BYTES + b"\r\n0\r\n\r\n"),
         BAD_REQUEST),
    Case("chunk_size_0x_prefix", chunked_post(b"0x" + SEED_CHUNK + b"\r\n0\r\n\r\n"),
         BAD_REQUEST),
    # httpd takes a chunk size that overflows its counter as too large (413)
    Case("chunk_size_overflow", chunked_post(b"ffffffffffffffffff\r\n" + SEED_BYTES
                                             + b"\r\n0\r\n\r\n"), TOO_LARGE),
    Case("chunk_extension_control_bytes", chunked_post(
        SEED_CHUNK.replace(b"\r\n", b";\x01\x02\r\n", 1) + b"\r\n0\r\n\r\n"), BAD_REQUEST),
    Case("chunk_longer_than_its_size", chunked_post(b"5\r\n" + SEED_BYTES + b"\r\n0\r\n\r\n"),
         BAD_REQUEST),
    Case("chunk_without_crlf", chunked_post(SEED_CHUNK + b"0\r\n\r\n"), BAD_REQUEST),
    Case("chunk_lines_with_bare_lf", chunked_post(chunked(SEED_BYTES).replace(b"\r\n", b"\n")),
         BAD_REQUEST),
    Case("last_chunk_missing_then_half_close", chunked_post(SEED_CHUNK + b"\r\n",
                                                            half_close=True), BAD_REQUEST),
    Case("chunked_over_max_body", chunked_post(chunked(body_of_size(STRICT_MAX_BODY + 1), 64),
                                               authorization=strict, target=STRICT_PATH),
         TOO_LARGE),
    Case("chunked_at_max_body", chunked_post(chunked(body_of_size(STRICT_MAX_BODY), 64),
                                             authorization=strict, target=STRICT_PATH),
         CREATED),
    # Content-Length
    Case("content_length_longer_than_body_then_half_close",
         with_length(str(len(SEED_BYTES) + 50), half_close=True), BAD_REQUEST),
    Case("content_length_longer_than_body_times_out", with_length(str(len(SEED_BYTES) + 50)),
         graph(408, "RequestTimeout"), tuned=True),
    Case("content_length_shorter_than_body", with_length("20"), invalid_json("line 1")),
    Case("content_length_negative", with_length("-1"), by_httpd(400)),
    Case("content_length_not_a_number", with_length("abc"), by_httpd(400)),
    Case("content_length_plus_sign", with_length(f"+{len(SEED_BYTES)}"), by_httpd(400)),
    Case("content_length_two_values", raw(("Content-Length", str(len(SEED_BYTES))),
                                          ("Content-Length", str(len(SEED_BYTES) + 1)),
                                          length=False), by_httpd(400)),
    Case("content_length_repeated", raw(("Content-Length", str(len(SEED_BYTES)))),
         by_httpd(400)),
    Case("content_length_above_limit_request_body", with_length(str(REQUEST_BODY_LIMIT + 1)),
         TOO_LARGE),
    # Transfer-Encoding (RFC 9112 6.1: chunked must come last, and only once;
    # with Content-Length too, the server reads chunked and closes)
    Case("chunked_and_content_length", chunked_post(chunked(SEED_BYTES), close=False,
                                                    length=True),
         Expect(201, stored=1, headers=[("Connection", "close")])),
    Case("chunked_and_content_length_then_pipelined_create", pipelined(
        chunked_post(chunked(SEED_BYTES), close=False, length=True).build, raw_post),
         Expect(201, stored=1, headers=[("Connection", "close")])),
    Case("transfer_encoding_gzip", raw(("Transfer-Encoding", "gzip")), by_httpd(400)),
    Case("transfer_encoding_identity", raw(("Transfer-Encoding", "identity")), by_httpd(400)),
    Case("transfer_encoding_gzip_then_chunked", chunked_post(chunked(SEED_BYTES),
                                                             te="gzip, chunked"),
         graph(501, "NotImplemented")),
    Case("transfer_encoding_chunked_twice", chunked_post(chunked(SEED_BYTES),
                                                         te="chunked, chunked"), BAD_REQUEST),
    # Expect, pipelining, versions, request lines
    Case("expect_100_continue", raw(("Expect", "100-continue")),
         Expect(201, stored=1, interim=(100,))),
    Case("expect_unknown", raw(("Expect", "101-nonsense")), by_httpd(417)),
    Case("pipelined_two_creates", pipelined(keep_open, raw_post), (CREATED, CREATED)),
    Case("pipelined_refused_then_create", pipelined(
        lambda keys: keep_open(keys, authorization=lambda _: "Bearer not-a-jwt"), raw_post),
         (UNAUTHORIZED, CREATED)),
    # httpd closes the connection after a 400: the create behind it is not read
    Case("pipelined_create_after_bad_json", pipelined(
        lambda keys: keep_open(keys, body=b"{bad"), raw_post), (BAD_REQUEST,)),
    Case("http_1_0", raw(version="HTTP/1.0", close=False), CREATED),
    # HTTP/0.9 has no headers, so no token: the list refuses it
    Case("http_0_9_get", Raw(lambda keys: hostile.http_request("GET", COLLECTION_PATH,
                                                               version=None)),
         Expect(None, "InvalidAuthenticationToken")),
    Case("http_0_9_post", Raw(lambda keys: hostile.http_request("POST", COLLECTION_PATH,
                                                                version=None)), by_httpd(400)),
    Case("request_line_garbage", Raw(lambda keys: b"\x01\x02garbage\r\n\r\n"), by_httpd(400)),
    Case("request_line_double_space", replaced(b"POST /", b"POST  /"), by_httpd(400)),
    Case("request_line_lower_case_version", raw(version="http/1.1"), by_httpd(400)),
]


@pytest.mark.parametrize("case", FRAMING_CASES, ids=case_id)
def test_hostile_framing(request, service, case):
    check_case(request, service, case)


# ------------------------------------------------------------ paths and methods

def at(target, method="POST"):
    """A request for target sent verbatim; a body only with POST."""
    if method == "POST":
        return raw(target=target)
    return raw(target=target, method=method, body=b"")


ENTITY_405 = graph(405, "MethodNotAllowed", headers=[("Allow", PRESENT)])

PATH_CASES = [
    # the collection as Graph matches it: segments case-insensitively
    Case("lower_case_collection", at("/v1.0/devicemanagement/remoteassistancepartners"),
         CREATED),
    Case("mixed_case_collection", at("/v1.0/DeviceManagement/RemoteAssistancePartners"),
         CREATED),
    Case("trailing_slash", at(COLLECTION_PATH + "/"), CREATED),
    Case("dot_segment", at("/v1.0/./deviceManagement/remoteAssistancePartners"), CREATED),
    Case("dot_dot_segment", at("/v1.0/deviceManagement/x/../remoteAssistancePartners"), CREATED),
    Case("trailing_dot_segment", at(COLLECTION_PATH + "/."), CREATED),
    Case("double_slash", at("/" + COLLECTION_PATH), CREATED),
    Case("absolute_form", at("http://127.0.0.1" + COLLECTION_PATH), CREATED),
    Case("long_query_within_request_line", at(COLLECTION_PATH + "?q=" + "a" * 8000), CREATED),
    # below the collection; encoded '/' and NUL are httpd's refusals inside
    # the module's URL space
    Case("encoded_slash_below", at(COLLECTION_PATH + "/a%2Fb"), NOT_FOUND),
    Case("encoded_slash_after_name", at(COLLECTION_PATH + "%2Fx"), NOT_FOUND),
    Case("dot_dot_encoded_slash", at(COLLECTION_PATH + "/..%2F"), NOT_FOUND),
    # httpd's ap_unescape_url refuses %00 as it does %2F: a path that cannot
    # name a resource, 404
    Case("encoded_nul_below", at(COLLECTION_PATH + "/a%00"), NOT_FOUND),
    Case("encoded_nul_after_name", at(COLLECTION_PATH + "%00"), NOT_FOUND),
    # an id, then a segment an entity does not have: Graph's 400
    Case("collection_repeated_below", at(COLLECTION_PATH + COLLECTION), BAD_REQUEST),
    Case("long_path_below", at(COLLECTION_PATH + "/" + "p" * 5000), NOT_FOUND),
    # httpd refuses it while reading the request line, before any module
    # hook: a Graph body has to come through httpd's error response
    Case("uri_over_request_line_limit", at(COLLECTION_PATH + "/" + "u" * REQUEST_LINE_LIMIT),
         graph(414, "RequestUriTooLong")),
    Case("fragment_in_target", at(COLLECTION_PATH + "#frag"), by_httpd(400)),
    Case("asterisk_form", at("*"), by_httpd(400)),
    # methods: httpd hands unknown methods to the handler, which answers 405
    Case("unknown_method", at(COLLECTION_PATH, "FOO"), COLLECTION_405),
    Case("lower_case_method", at(COLLECTION_PATH, "post"), COLLECTION_405),
    Case("trace", at(COLLECTION_PATH, "TRACE"), COLLECTION_405),
    Case("propfind", at(COLLECTION_PATH, "PROPFIND"), COLLECTION_405),
    Case("connect_with_a_path", at(COLLECTION_PATH, "CONNECT"), by_httpd(400)),
    # an entity URL takes no POST
    Case("post_to_entity", at(COLLECTION_PATH + "('abc')"), ENTITY_405),
    Case("post_to_entity_encoded_quotes", at(COLLECTION_PATH + "(%27abc%27)"), ENTITY_405),
]


@pytest.mark.parametrize("case", PATH_CASES, ids=case_id)
def test_hostile_path(request, service, case):
    check_case(request, service, case)


# ------------------------------------------------------------ key files

@dataclass(frozen=True)
class KeyCase:
    id: str
    write: object               # write(keys, path) puts the file (or a directory) at path
    says: str                   # a piece of the module's message
    directive: str = "RemoteAssistTokenKey"


def content(build):
    """A writer of build(keys): text or bytes."""
    def write(keys, path):
        data = build(keys)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
    return write


def jwks_of(keys):
    with open(keys.path("jwks.json")) as f:
        return json.load(f)


def jwks_edit(kid, **members):
    """The test JWKS with members of key kid replaced: by a value, or by
    a function of the old value."""
    def build(keys):
        doc = jwks_of(keys)
        jwk = next(k for k in doc["keys"] if k["kid"] == kid)
        for name, value in members.items():
            jwk[name] = value(jwk[name]) if callable(value) else value
        return json.dumps(doc)
    return content(build)


def public_pem(curve):
    """The public key of a new key on curve, as PEM."""
    return content(lambda keys: ec.generate_private_key(curve()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def certificate(curve):
    """A self-signed certificate for a new key on curve."""
    def build(keys):
        key = ec.generate_private_key(curve())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostile")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(1).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM)
    return content(build)


def pem_of(keys):
    with open(keys.path("rsa.pub.pem")) as f:
        return f.read()


def b64_of(n):
    return hostile.b64url(b"\x01" * n)


def make_directory(keys, path):
    os.mkdir(path)


NOT_UNPADDED = "is not unpadded base64url"
NOT_A_KEY_FILE = "holds no PEM public key, certificate or JWKS"
TOO_BIG = "is not a regular file of at most 1048576 bytes"

KEY_FILE_CASES = [
    KeyCase("jwk_n_padded", jwks_edit("rsa-1", n=lambda n: n + "=="), NOT_UNPADDED),
    KeyCase("jwk_n_length_1_mod_4", jwks_edit("rsa-1", n=SEGMENT_FAULTS["length_1_mod_4"]),
            NOT_UNPADDED),
    KeyCase("jwk_e_standard_base64", jwks_edit("rsa-1", e="AQ+B"), NOT_UNPADDED),
    KeyCase("jwk_x_padded", jwks_edit("ec-1", x=lambda x: x + "="), NOT_UNPADDED),
    KeyCase("jwk_y_invalid_character", jwks_edit("ec-1", y=lambda y: y[:-2] + "!!"),
            NOT_UNPADDED),
    KeyCase("jwk_x_31_bytes", jwks_edit("ec-1", x=b64_of(31)), "not a valid JWK"),
    KeyCase("jwk_y_33_bytes", jwks_edit("ec-1", y=b64_of(33)), "not a valid JWK"),
    KeyCase("jwk_curve_p192", jwks_edit("ec-1", crv="P-192"), "not a valid JWK"),
    KeyCase("jwk_curve_secp256k1", jwks_edit("ec-1", crv="secp256k1"), "not a valid JWK"),
    KeyCase("jwk_kty_okp", jwks_edit("rsa-1", kty="OKP"), 'kty must be "RSA" or "EC"'),
    KeyCase("jwk_kty_number", jwks_edit("rsa-1", kty=1), 'kty must be "RSA" or "EC"'),
    KeyCase("jwks_keys_is_object", content(lambda keys: json.dumps(
        {"keys": {"kty": "RSA"}})), 'needs a "keys" array'),
    KeyCase("jwks_keys_is_string", content(lambda keys: '{"keys": "rsa-1"}'),
            'needs a "keys" array'),
    KeyCase("jwks_top_level_array", content(lambda keys: json.dumps(jwks_of(keys)["keys"])),
            NOT_A_KEY_FILE),
    KeyCase("jwks_encryption_keys_only", content(lambda keys: json.dumps({"keys": [
        dict(k, use="enc") for k in jwks_of(keys)["keys"]]})),
            "holds no signature key"),
    KeyCase("jwks_nested_5000_deep", content(lambda keys: '{"keys": ' + nested(5000) + "}"),
            "maximum parsing depth"),
    KeyCase("jwks_with_nul_byte", content(lambda keys: b'{"keys": [{"kty": "R\x00SA"}]}'),
            "invalid JSON"),
    KeyCase("pem_with_garbage", content(lambda keys: "-----BEGIN PUBLIC KEY-----\n!!garbage$$\n"
                                        "-----END PUBLIC KEY-----\n"), NOT_A_KEY_FILE),
    KeyCase("pem_truncated", content(lambda keys: pem_of(keys)[:200]), NOT_A_KEY_FILE),
    KeyCase("public_key_on_secp256k1", public_pem(ec.SECP256K1), "secp256k1 is not supported"),
    KeyCase("certificate_on_secp256k1", certificate(ec.SECP256K1), "secp256k1 is not supported"),
    KeyCase("certificate_on_p192", certificate(ec.SECP192R1), "prime192v1 is not supported"),
    KeyCase("empty_file", content(lambda keys: b""), NOT_A_KEY_FILE),
    KeyCase("directory", make_directory, TOO_BIG),
    KeyCase("file_of_2_mb", content(lambda keys: b" " * (2 << 20)), TOO_BIG),
    KeyCase("secret_of_31_bytes", content(lambda keys: "s" * 31 + "\n"), "has 31 bytes",
            directive="RemoteAssistTokenSecret"),
]


@pytest.mark.parametrize("case", KEY_FILE_CASES, ids=case_id)
def test_hostile_key_file(make, workroot, keys, case):  # noqa: F811 (make is a fixture)
    path = os.path.join(workroot.mktemp("hostile-key"), "key")
    case.write(keys, path)
    rc, out = configtest(make(locations=loc(f'{case.directive} "{path}"')))
    assert rc == 1, out  # an error exit, not a signal (-6 was cjose's abort)
    assert "Assertion" not in out
    for word in ("RA00008", case.directive, path, case.says):
        assert word in out, out


# ------------------------------------------------------------ summary

FAMILY_CASES = {"token": len(TOKEN_CASES), "header": len(HEADER_CASES),
                "body": len(BODY_CASES), "framing": len(FRAMING_CASES),
                "path": len(PATH_CASES), "key_file": len(KEY_FILE_CASES)}


@pytest.fixture(scope="session", autouse=True)
def hostile_summary(request):
    """With RA_HOSTILE_SUMMARY set to a path, the counts per family are
    written there as JSON when the session ends (docs/RELIABILITY.md)."""
    path = os.environ.get("RA_HOSTILE_SUMMARY")
    if path:
        request.config.pluginmanager.register(hostile.Summary(path, FAMILY_CASES),
                                              "ra-hostile-summary")
