/* ra_jose: the gate that keeps non-strict base64url away from cjose, whose
 * decoder assert()s (aborting the httpd process) on input such as "B=".
 * Check forks each test, so a regression shows as an error, not a crash of
 * the runner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>
#include <apr_tables.h>

#include "ra_jose.h"
#include "ra_token.h"
#include "suites.h"

START_TEST(b64url_strictness)
{
    static const struct {
        const char *text;
        int valid;
    } cases[] = {
        { "", 1 },          { "AA", 1 },        { "AAA", 1 },        { "AAAA", 1 },
        { "eyJhbGciOiJSUzI1NiJ9", 1 },           { "-_-_", 1 },       { "A", 0 },
        { "AAAAA", 0 },     { "B=", 0 },        { "AA==", 0 },       { "AAA=", 0 },
        { "ABCDE=", 0 },    { "A+B/", 0 },      { "AB.C", 0 },       { "AB C", 0 },
        { "AB\n", 0 },      { "\xc3\xa9" "AB", 0 }, { "AB~", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(ra_jose_b64url_valid(cases[i].text, strlen(cases[i].text))
                      == cases[i].valid, "'%s' should be %s", cases[i].text,
                      cases[i].valid ? "valid" : "invalid");
    }
    /* an embedded NUL is never valid, whatever the length says */
    ck_assert_int_eq(ra_jose_b64url_valid("AB\0D", 4), 0);
}
END_TEST

/* The tokens of issue 7 that aborted an httpd child through cjose's
 * base64url decoder, and their relatives: all are malformed tokens now. */
START_TEST(hostile_tokens_are_malformed)
{
    static const char *const tokens[] = {
        "B=.", "A=.x.y", "ABCDE=.x.y", "eyJhbGciOiJSUzI1NiJ9.e30.B=",
        "eyJhbGciOiJSUzI1NiJ9.B=.c2ln", "eyJhbGciOiJSUzI1NiJ9.e30=.c2ln",
        "eyJhbGciOiJSUzI1NiJ9.e30.c2ln=", "A.e30.c2ln", "eyJhbGciOiJSUzI1NiJ9.A.c2ln",
        "eyJhbGciOiJSUzI1NiJ9.e30.A", ".e30.c2ln",
        "=.=.=", "====", "eyJhbGciOiJSUzI1NiJ9..c2ln=", "eyJ+.e30.c2ln",
    };
    const char *error = NULL;
    char path[] = "/tmp/ra_jose_XXXXXX";
    int fd = mkstemp(path);
    static const char secret[] = "0123456789abcdef0123456789abcdef";
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, secret, sizeof(secret) - 1), (int)sizeof(secret) - 1);
    close(fd);
    const ra_keyset_t *keys = ra_keyset_load_secret(pool, path, &error);
    unlink(path);
    ck_assert_msg(keys != NULL, "%s", error);

    apr_array_header_t *audiences = apr_array_make(pool, 1, sizeof(const char *));
    APR_ARRAY_PUSH(audiences, const char *) = "https://graph.microsoft.com";
    ra_token_policy_t policy = { audiences, NULL, 60 };
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        ra_token_result_t result;
        ra_token_status_e status = ra_token_verify(pool, keys, &policy, tokens[i],
                                                   apr_time_now(), &result);
        ck_assert_msg(status == RA_TOKEN_MALFORMED, "%s: %s", tokens[i],
                      ra_token_status_name(status));
        ck_assert_ptr_null(ra_jose_jws_import(tokens[i], strlen(tokens[i])));
    }
}
END_TEST

/* A JWKS file with one RSA or EC key whose member is replaced by value. */
static const char *load_jwks_with(const char *kty, const char *member, const char *value)
{
    /* a real 2048-bit modulus is not needed: the gate refuses before cjose */
    json_t *key = !strcmp(kty, "RSA")
        ? json_pack("{s:s, s:s, s:s, s:s}", "kty", "RSA", "kid", "x", "n",
                    "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1Wl"
                    "UzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDpre"
                    "cbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_"
                    "7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBI"
                    "Y2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU"
                    "7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e", "AQAB")
        : json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "kid", "x", "crv", "P-256",
                    "x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                    "y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
    json_object_set_new(key, member, json_string(value));
    json_t *doc = json_pack("{s:[o]}", "keys", key);
    char path[] = "/tmp/ra_jose_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(json_dump_file(doc, path, 0), 0);
    json_decref(doc);
    const char *error = NULL;
    ra_keyset_t *keys = ra_keyset_load_public(pool, path, &error);
    unlink(path);
    ck_assert_ptr_null(keys);
    return error;
}

START_TEST(hostile_jwk_members_are_refused)
{
    static const struct {
        const char *kty, *member, *value;
    } cases[] = {
        { "RSA", "n", "B=" },   { "RSA", "e", "A=" },    { "RSA", "n", "ABCDE=" },
        { "RSA", "e", "AQAB=" }, { "RSA", "n", "A" },     { "RSA", "n", "a+b/" },
        { "RSA", "n", "" },     { "RSA", "p", "B=" },    { "RSA", "qi", "B=" },
        { "EC", "x", "B=" },    { "EC", "y", "ABCDE=" }, { "EC", "x", "" },
        { "EC", "k", "B=" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *error = load_jwks_with(cases[i].kty, cases[i].member, cases[i].value);
        char *expected = apr_psprintf(pool, "\"%s\"", cases[i].member);
        ck_assert_msg(error && strstr(error, expected), "%s %s=%s: %s", cases[i].kty,
                      cases[i].member, cases[i].value, error ? error : "(none)");
    }
}
END_TEST

START_TEST(jwk_member_types_and_presence)
{
    json_t *rsa = json_pack("{s:s, s:i, s:s}", "kty", "RSA", "n", 12, "e", "AQAB");
    json_t *no_n = json_pack("{s:s, s:s}", "kty", "RSA", "e", "AQAB");
    json_t *no_kty = json_pack("{s:s}", "n", "AQAB");
    const char *error = NULL;

    ck_assert_ptr_null(ra_jose_jwk_import(pool, rsa, &error));
    ck_assert_msg(strstr(error, "\"n\""), "%s", error);
    ck_assert_ptr_null(ra_jose_jwk_import(pool, no_n, &error));
    ck_assert_msg(strstr(error, "\"n\" is missing"), "%s", error);
    ck_assert_ptr_null(ra_jose_jwk_import(pool, no_kty, &error));
    ck_assert_msg(strstr(error, "kty"), "%s", error);
    json_decref(rsa), json_decref(no_n), json_decref(no_kty);
}
END_TEST

START_TEST(header_of_hostile_tokens)
{
    json_t *hdr = ra_jose_header("eyJhbGciOiJub25lIn0.e30.", 24);
    ck_assert_str_eq(json_string_value(json_object_get(hdr, "alg")), "none");
    json_decref(hdr);
    ck_assert_ptr_null(ra_jose_header("B=.e30.x", 8));
    ck_assert_ptr_null(ra_jose_header("ABCDE=", 6));
    ck_assert_ptr_null(ra_jose_header(".e30.x", 6));
}
END_TEST

Suite *jose_suite(void)
{
    Suite *s = suite_create("jose");
    TCase *tc = pool_tcase(s, "gate");
    tcase_add_test(tc, b64url_strictness);
    tcase_add_test(tc, hostile_tokens_are_malformed);
    tcase_add_test(tc, hostile_jwk_members_are_refused);
    tcase_add_test(tc, jwk_member_types_and_presence);
    tcase_add_test(tc, header_of_hostile_tokens);
    return s;
}
