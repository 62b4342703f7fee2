/* ra_url_keys and the key-set parts of ra_keyset that keys from a URL use: URL
 * and discovery-document checks, the {tenantid} issuer template, JWKS with
 * unusable keys, snapshots and their bundles, the shared block's schedule
 * and early refreshes, and local keys swapped under running threads (run
 * under AddressSanitizer by make test, which catches a snapshot freed while
 * a thread still holds it). Keys are made with cjose when the case starts. */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_thread_proc.h>

#include <cjose/cjose.h>
#include <jansson.h>

#include "ra_token.h"
#include "ra_url_keys.h"
#include "suites.h"

#define SOURCE "https://login.example/tenant/v2.0/.well-known/openid-configuration"
#define JWKS_URI "https://login.example/tenant/discovery/v2.0/keys"
#define TENANT_A "aaaaaaaa-0000-0000-0000-000000000001"
#define TENANT_B "bbbbbbbb-0000-0000-0000-000000000002"
#define TEMPLATE "https://login.example/{tenantid}/v2.0"
#define NOW_SEC 1700000000
#define SEC(n) apr_time_from_sec(n)

/* ---- keys, made once per test case (an unchecked fixture) ---- */

static cjose_jwk_t *rsa_a, *rsa_b, *rsa_small, *ec_key, *oct_key;

static cjose_jwk_t *must(cjose_jwk_t *jwk, const cjose_err *err)
{
    ck_assert_msg(jwk != NULL, "cjose: %s", err->message);
    return jwk;
}

static void keys_setup(void)
{
    static const uint8_t e[] = { 1, 0, 1 };
    cjose_err err;
    rsa_a = must(cjose_jwk_create_RSA_random(2048, e, sizeof(e), &err), &err);
    rsa_b = must(cjose_jwk_create_RSA_random(2048, e, sizeof(e), &err), &err);
    rsa_small = must(cjose_jwk_create_RSA_random(1024, e, sizeof(e), &err), &err);
    ec_key = must(cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err), &err);
    oct_key = must(cjose_jwk_create_oct_random(32, &err), &err);
}

static void keys_teardown(void)
{
    cjose_jwk_t *all[] = { rsa_a, rsa_b, rsa_small, ec_key, oct_key };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        cjose_jwk_release(all[i]);
    }
}

/* The public JWK of jwk with kid and, unless NULL, alg; a reference. */
static json_t *public_jwk(const cjose_jwk_t *jwk, const char *kid, const char *alg)
{
    cjose_err err;
    char *text = cjose_jwk_to_json(jwk, false, &err);
    ck_assert_ptr_nonnull(text);
    json_t *json = json_loads(text, 0, NULL);
    cjose_get_dealloc()(text);
    json_object_set_new(json, "kid", json_string(kid));
    json_object_set_new(json, "use", json_string("sig"));
    if (alg) {
        json_object_set_new(json, "alg", json_string(alg));
    }
    return json;
}

/* {"keys":[...]} of the given JWKs (references taken), from pool. */
static const char *jwks_of(int n, json_t **jwks)
{
    json_t *keys = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(keys, jwks[i]);
    }
    json_t *doc = json_pack("{s:o}", "keys", keys);
    char *text = json_dumps(doc, 0);
    const char *copy = apr_pstrdup(pool, text);
    free(text);
    json_decref(doc);
    return copy;
}

#define JWKS(...) jwks_of(sizeof((json_t *[]){ __VA_ARGS__ }) / sizeof(json_t *), \
                          (json_t *[]){ __VA_ARGS__ })

/* A token of tenant tid with issuer iss, signed by jwk under kid. */
static const char *token(const cjose_jwk_t *jwk, const char *kid, const char *iss,
                         const char *tid)
{
    cjose_err err;
    const char *compact;
    json_t *claims = json_pack("{s:s, s:s, s:I, s:s}", "aud", "api://ra", "iss", iss, "exp",
                               (json_int_t)NOW_SEC + 600, "scp", RA_TOKEN_WRITE_PERMISSION);
    if (tid) {
        json_object_set_new(claims, "tid", json_string(tid));
    }
    char *payload = json_dumps(claims, JSON_COMPACT);
    json_t *header = json_pack("{s:s, s:s}", "alg", "RS256", "kid", kid);
    cjose_jws_t *jws = cjose_jws_sign(jwk, (cjose_header_t *)header, (uint8_t *)payload,
                                      strlen(payload), &err);
    ck_assert_msg(jws != NULL, "cjose_jws_sign: %s", err.message);
    ck_assert(cjose_jws_export(jws, &compact, &err));
    const char *copy = apr_pstrdup(pool, compact);
    cjose_jws_release(jws);
    json_decref(header);
    json_decref(claims);
    free(payload);
    return copy;
}

static ra_token_status_e verify(apr_pool_t *p, const ra_keyset_t *keys,
                                const apr_array_header_t *issuers, const char *jwt)
{
    apr_array_header_t *audiences = apr_array_make(p, 1, sizeof(const char *));
    ra_token_result_t result;
    APR_ARRAY_PUSH(audiences, const char *) = "api://ra";
    ra_token_policy_t policy = { audiences, issuers, 60 };
    return ra_token_verify(p, keys, &policy, jwt, SEC(NOW_SEC), &result);
}

static ra_fetched_keys_t *snapshot(const char *issuer, const char *jwks)
{
    const char *error = NULL;
    ra_fetched_keys_t *snap = ra_fetched_keys_from_jwks(pool, SOURCE, JWKS_URI, issuer, jwks,
                                                        strlen(jwks), &error);
    ck_assert_msg(snap != NULL, "ra_fetched_keys_from_jwks: %s", error);
    return snap;
}

/* ---- documents ---- */

START_TEST(urls)
{
    static const struct {
        const char *url;
        int allow_http, ok;
    } cases[] = {
        { "https://login.microsoftonline.com/common/discovery/v2.0/keys", 0, 1 },
        { "HTTPS://127.0.0.1:8443/keys?x=1", 0, 1 },
        { "http://idp.test/keys", 0, 0 },
        { "http://idp.test/keys", 1, 1 },
        { "ftp://idp.test/keys", 1, 0 },
        { "file:///etc/passwd", 1, 0 },
        { "/keys", 0, 0 },
        { "https:///keys", 0, 0 },
        { "https://idp.test/keys#frag", 0, 0 },
        { "https://idp.test/my keys", 0, 0 },
        { "https://idp.test/\x7fkeys", 0, 0 },
        { "", 0, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *error = ra_url_keys_check_url(pool, cases[i].url, cases[i].allow_http);
        ck_assert_msg((error == NULL) == cases[i].ok, "%s (allow_http %d): %s",
                      cases[i].url, cases[i].allow_http, error ? error : "accepted");
    }
}
END_TEST

START_TEST(metadata)
{
    static const struct {
        const char *doc;
        int allow_http;
        const char *jwks_uri, *issuer; /* NULL: refused */
    } cases[] = {
        { "{\"issuer\":\"" TEMPLATE "\",\"jwks_uri\":\"" JWKS_URI "\",\"x\":[1]}", 0,
          JWKS_URI, TEMPLATE },
        { "{\"issuer\":\"https://sts.windows.net/{tenantid}/\",\"jwks_uri\":\"" JWKS_URI
          "\"}", 0, JWKS_URI, "https://sts.windows.net/{tenantid}/" },
        { "{\"issuer\":\"http://idp.test/\",\"jwks_uri\":\"http://idp.test/keys\"}", 1,
          "http://idp.test/keys", "http://idp.test/" },
        { "{\"issuer\":\"http://idp.test/\",\"jwks_uri\":\"http://idp.test/keys\"}", 0,
          NULL, NULL },
        { "{\"issuer\":\"" TEMPLATE "\"}", 0, NULL, NULL },
        { "{\"jwks_uri\":\"" JWKS_URI "\"}", 0, NULL, NULL },
        { "{\"issuer\":\"" TEMPLATE "\",\"jwks_uri\":42}", 0, NULL, NULL },
        { "{\"issuer\":\"" TEMPLATE "\",\"jwks_uri\":\"\"}", 0, NULL, NULL },
        { "{\"issuer\":\"" TEMPLATE "\",\"jwks_uri\":\"file:///etc/passwd\"}", 0, NULL, NULL },
        { "{\"issuer\":\"not a url\",\"jwks_uri\":\"" JWKS_URI "\"}", 0, NULL, NULL },
        { "{\"issuer\":\"https://a.test/\\u0000x\",\"jwks_uri\":\"" JWKS_URI "\"}", 0, NULL,
          NULL },
        { "{\"issuer\":\"" TEMPLATE "\",\"jwks_uri\":\"" JWKS_URI "\",\"jwks_uri\":\""
          "https://evil.test/keys\"}", 0, NULL, NULL },
        { "[\"" JWKS_URI "\"]", 0, NULL, NULL },
        { "<html>maintenance</html>", 0, NULL, NULL },
        { "", 0, NULL, NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *jwks_uri = NULL, *issuer = NULL;
        const char *error = ra_url_keys_parse_metadata(pool, cases[i].doc, strlen(cases[i].doc),
                                                       cases[i].allow_http, &jwks_uri, &issuer);
        if (cases[i].jwks_uri) {
            ck_assert_msg(error == NULL, "case %zu: %s", i, error);
            ck_assert_str_eq(jwks_uri, cases[i].jwks_uri);
            ck_assert_str_eq(issuer, cases[i].issuer);
        }
        else {
            ck_assert_msg(error != NULL, "case %zu was accepted", i);
        }
    }
}
END_TEST

/* ---- the {tenantid} issuer template ---- */

START_TEST(issuer_template)
{
    static const struct {
        const char *accepted, *iss, *tid;
        int matches;
    } cases[] = {
        { TEMPLATE, "https://login.example/" TENANT_A "/v2.0", TENANT_A, 1 },
        { TEMPLATE, "https://login.example/" TENANT_B "/v2.0", TENANT_B, 1 },
        { TEMPLATE, "https://login.example/" TENANT_A "/v2.0", TENANT_B, 0 },
        { TEMPLATE, "https://login.example/" TENANT_A "/v2.0", NULL, 0 },
        { TEMPLATE, "https://login.example//v2.0", "", 0 },
        { TEMPLATE, "https://login.example/" TENANT_A "/v2.0/", TENANT_A, 0 },
        { TEMPLATE, "https://login.example/" TENANT_A, TENANT_A, 0 },
        { TEMPLATE, "https://login.example/{tenantid}/v2.0", TENANT_A, 0 },
        { TEMPLATE, "https://login.example/{tenantid}/v2.0", "{tenantid}", 1 },
        { "https://sts.windows.net/{tenantid}/", "https://sts.windows.net/" TENANT_A "/",
          TENANT_A, 1 },
        { "{tenantid}", TENANT_A, TENANT_A, 1 },
        { "a/{tenantid}/{tenantid}", "a/" TENANT_A "/" TENANT_A, TENANT_A, 1 },
        { "a/{tenantid}/{tenantid}", "a/" TENANT_A "/" TENANT_B, TENANT_A, 0 },
        { "https://login.example/fixed/v2.0", "https://login.example/fixed/v2.0", NULL, 1 },
        { "https://login.example/fixed/v2.0", "https://login.example/fixed/v2.", NULL, 0 },
        { "https://login.example/{tenant}/v2.0", "https://login.example/" TENANT_A "/v2.0",
          TENANT_A, 0 },
        { TEMPLATE, NULL, TENANT_A, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(ra_token_issuer_matches(cases[i].accepted, cases[i].iss, cases[i].tid)
                      == cases[i].matches, "case %zu: %s against %s (tid %s)", i,
                      cases[i].iss ? cases[i].iss : "(none)", cases[i].accepted,
                      cases[i].tid ? cases[i].tid : "(none)");
    }
}
END_TEST

/* The template through ra_token_verify: two tenants, and an iss of one
 * tenant in a token of the other. */
START_TEST(issuer_template_in_verify)
{
    const ra_fetched_keys_t *snap = snapshot(TEMPLATE, JWKS(public_jwk(rsa_a, "a", "RS256")));
    const char *iss_a = "https://login.example/" TENANT_A "/v2.0";
    const char *iss_b = "https://login.example/" TENANT_B "/v2.0";

    ck_assert_int_eq(verify(pool, snap->keys, snap->issuers,
                            token(rsa_a, "a", iss_a, TENANT_A)), RA_TOKEN_OK);
    ck_assert_int_eq(verify(pool, snap->keys, snap->issuers,
                            token(rsa_a, "a", iss_b, TENANT_B)), RA_TOKEN_OK);
    ck_assert_int_eq(verify(pool, snap->keys, snap->issuers,
                            token(rsa_a, "a", iss_a, TENANT_B)), RA_TOKEN_BAD_ISSUER);
    ck_assert_int_eq(verify(pool, snap->keys, snap->issuers,
                            token(rsa_a, "a", iss_a, NULL)), RA_TOKEN_BAD_ISSUER);
    ra_fetched_keys_destroy((ra_fetched_keys_t *)snap);
}
END_TEST

/* ---- JWKS from a URL ---- */

START_TEST(jwks_leaves_out_unusable_keys)
{
    json_t *bad_b64 = public_jwk(rsa_b, "padded", NULL);
    json_object_set_new(bad_b64, "e", json_string("AQAB="));
    json_t *enc = public_jwk(rsa_b, "enc", NULL);
    json_object_set_new(enc, "use", json_string("enc"));
    const char *jwks = JWKS(public_jwk(rsa_small, "small", NULL), bad_b64,
                            public_jwk(ec_key, "ec-rs", "RS256"),
                            public_jwk(oct_key, "oct", NULL), enc,
                            public_jwk(rsa_a, "good", "RS256"),
                            public_jwk(ec_key, "ec", NULL));
    apr_array_header_t *skipped = apr_array_make(pool, 1, sizeof(const char *));
    const char *error = NULL;
    static const char *const why[] = { "(kid small): RSA key of 1024 bits",
                                       "(kid padded) is not a valid JWK: member \"e\"",
                                       "(kid ec-rs): its alg RS256 cannot be verified",
                                       "(kid oct): kty must be" };

    /* a file is refused whole (ra_keyset_parse_public's way) */
    ck_assert_ptr_null(ra_keyset_parse_jwks(pool, "file", jwks, strlen(jwks), NULL, &error));
    ck_assert_ptr_nonnull(strstr(error, "small"));

    const ra_keyset_t *keys = ra_keyset_parse_jwks(pool, JWKS_URI, jwks, strlen(jwks),
                                                   skipped, &error);
    ck_assert_msg(keys != NULL, "%s", error);
    ck_assert_str_eq(ra_keyset_kids(pool, keys), "good,ec");
    ck_assert_int_eq(skipped->nelts, 4);
    for (int i = 0; i < skipped->nelts; i++) {
        const char *line = APR_ARRAY_IDX(skipped, i, const char *);
        ck_assert_msg(strstr(line, why[i]) != NULL, "%s lacks %s", line, why[i]);
    }
}
END_TEST

START_TEST(jwks_without_a_usable_key_is_refused)
{
    static const char *const refused[] = { "{\"keys\":[]}", "{\"keys\":{}}", "{\"kty\":\"RSA\"}",
                                           "[]", "{\"keys\":[1, \"x\", null]}", "not json" };
    const char *error;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        apr_array_header_t *skipped = apr_array_make(pool, 1, sizeof(const char *));
        error = NULL;
        ck_assert_ptr_null(ra_keyset_parse_jwks(pool, JWKS_URI, refused[i],
                                                strlen(refused[i]), skipped, &error));
        ck_assert_msg(error != NULL, "%s", refused[i]);
    }
    const char *small = JWKS(public_jwk(rsa_small, "small", NULL));
    error = NULL;
    ck_assert_ptr_null(ra_keyset_parse_jwks(pool, JWKS_URI, small, strlen(small),
                                            apr_array_make(pool, 1, sizeof(const char *)),
                                            &error));
    ck_assert_ptr_nonnull(strstr(error, "no usable signature key"));
}
END_TEST

START_TEST(generations_increase)
{
    const char *jwks = JWKS(public_jwk(rsa_a, "a", NULL));
    const char *error;
    apr_uint64_t last = 0;

    ck_assert_uint_eq(ra_keyset_generation(NULL), 0);
    for (int i = 0; i < 5; i++) {
        const ra_keyset_t *keys = ra_keyset_parse_jwks(pool, JWKS_URI, jwks, strlen(jwks),
                                                       NULL, &error);
        ck_assert_uint_gt(ra_keyset_generation(keys), last);
        last = ra_keyset_generation(keys);
    }
}
END_TEST

/* ---- snapshots and bundles ---- */

START_TEST(bundle_round_trip)
{
    const char *jwks = JWKS(public_jwk(rsa_a, "a", "RS256"), public_jwk(ec_key, "ec", NULL));
    ra_fetched_keys_t *made = snapshot(TEMPLATE, jwks), *again = snapshot(TEMPLATE, jwks);
    const char *error = NULL;

    /* the same keys make the same bytes: an unchanged JWKS is recognised */
    ck_assert_uint_eq(made->bundle_len, again->bundle_len);
    ck_assert_int_eq(memcmp(made->bundle, again->bundle, made->bundle_len), 0);
    ck_assert_uint_ne(ra_keyset_generation(made->keys), ra_keyset_generation(again->keys));

    ra_fetched_keys_t *decoded = ra_fetched_keys_decode(pool, SOURCE, made->bundle,
                                                        made->bundle_len, &error);
    ck_assert_msg(decoded != NULL, "%s", error);
    ck_assert_str_eq(decoded->source, SOURCE);
    ck_assert_str_eq(decoded->jwks_uri, JWKS_URI);
    ck_assert_str_eq(decoded->issuer, TEMPLATE);
    ck_assert_int_eq(decoded->issuers->nelts, 1);
    ck_assert_str_eq(ra_keyset_kids(pool, decoded->keys), "a,ec");
    ck_assert_int_eq(verify(pool, decoded->keys, NULL,
                            token(rsa_a, "a", "x", TENANT_A)), RA_TOKEN_OK);

    ck_assert_ptr_null(ra_fetched_keys_decode(pool, "https://other.test/keys", made->bundle,
                                              made->bundle_len, &error));
    ck_assert_ptr_nonnull(strstr(error, "https://other.test/keys"));

    ra_fetched_keys_t *no_issuer = snapshot(NULL, jwks);
    ra_fetched_keys_t *back = ra_fetched_keys_decode(pool, NULL, no_issuer->bundle,
                                                     no_issuer->bundle_len, &error);
    ck_assert_ptr_nonnull(back);
    ck_assert_ptr_null(back->issuer);
    ck_assert_ptr_null(back->issuers);
    ra_fetched_keys_t *all[] = { made, again, decoded, no_issuer, back };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        ra_fetched_keys_destroy(all[i]);
    }
}
END_TEST

START_TEST(bad_documents_make_no_snapshot)
{
    char *huge = apr_palloc(pool, RA_URL_KEYS_MAX_BUNDLE + 64);
    int n = apr_snprintf(huge, RA_URL_KEYS_MAX_BUNDLE + 64, "{\"keys\":[],\"pad\":\"");
    memset(huge + n, 'x', RA_URL_KEYS_MAX_BUNDLE);
    strcpy(huge + n + RA_URL_KEYS_MAX_BUNDLE, "\"}");
    const char *const jwks[] = { "not json", "[]", "{\"keys\":[]}", huge };
    const char *const bundles[] = { "{}", "not json",
                                    "{\"source\":\"" SOURCE "\",\"jwks_uri\":\"" JWKS_URI "\"}",
                                    "{\"source\":\"" SOURCE "\",\"jwks_uri\":\"" JWKS_URI
                                    "\",\"issuer\":7,\"jwks\":{\"keys\":[]}}" };
    const char *error;

    for (size_t i = 0; i < sizeof(jwks) / sizeof(jwks[0]); i++) {
        error = NULL;
        ck_assert_ptr_null(ra_fetched_keys_from_jwks(pool, SOURCE, JWKS_URI, NULL, jwks[i],
                                                     strlen(jwks[i]), &error));
        ck_assert_msg(error != NULL, "jwks %zu", i);
    }
    for (size_t i = 0; i < sizeof(bundles) / sizeof(bundles[0]); i++) {
        error = NULL;
        ck_assert_ptr_null(ra_fetched_keys_decode(pool, SOURCE, bundles[i], strlen(bundles[i]),
                                                  &error));
        ck_assert_msg(error != NULL, "bundle %zu", i);
    }
}
END_TEST

START_TEST(bundle_longer_than_the_shared_block_is_refused)
{
    /* a cache file can be longer than any fetch: a member the loader ignores
     * pads a usable bundle past what the shared block holds */
    json_t *jwks = json_loads(JWKS(public_jwk(rsa_a, "a", "RS256")), 0, NULL);
    char *pad = apr_palloc(pool, RA_URL_KEYS_MAX_BUNDLE + 1);
    const char *error = NULL;

    ck_assert_ptr_nonnull(jwks);
    memset(pad, 'x', RA_URL_KEYS_MAX_BUNDLE);
    pad[RA_URL_KEYS_MAX_BUNDLE] = '\0';
    ck_assert_int_eq(json_object_set_new(jwks, "pad", json_string(pad)), 0);
    json_t *doc = json_pack("{s:s, s:s, s:o}", "source", SOURCE, "jwks_uri", JWKS_URI,
                            "jwks", jwks);
    char *text = json_dumps(doc, JSON_COMPACT);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_null(ra_fetched_keys_decode(pool, SOURCE, text, strlen(text), &error));
    ck_assert_ptr_nonnull(strstr(error, "exceed"));
    free(text);

    /* the same bundle without the pad is one */
    json_object_del(jwks, "pad");
    text = json_dumps(doc, JSON_COMPACT);
    ra_fetched_keys_t *snap = ra_fetched_keys_decode(pool, SOURCE, text, strlen(text), &error);
    ck_assert_msg(snap != NULL, "%s", error);
    ra_fetched_keys_destroy(snap);
    free(text);
    json_decref(doc);
}
END_TEST

/* ---- the shared block ---- */

static ra_shared_keys_t *new_share(void)
{
    return ra_shared_keys_init(apr_palloc(pool, ra_shared_keys_size()));
}

START_TEST(share_stores_and_loads)
{
    ra_shared_keys_t *share = new_share();
    apr_size_t len;
    apr_uint64_t stamp;

    ck_assert_uint_eq(ra_shared_keys_published(share), 0);
    ck_assert_ptr_null(ra_shared_keys_load(share, pool, &len, &stamp));
    ck_assert(!ra_shared_keys_holds(share, "", 0));
    ra_shared_keys_store(share, "first", 5);
    ra_shared_keys_store(share, "second", 6);
    ck_assert_uint_eq(ra_shared_keys_published(share), 2);
    ck_assert_str_eq(ra_shared_keys_load(share, pool, &len, &stamp), "second");
    ck_assert_uint_eq(len, 6);
    ck_assert_uint_eq(stamp, 2);
    ck_assert(ra_shared_keys_holds(share, "second", 6));
    ck_assert(!ra_shared_keys_holds(share, "first", 5));
}
END_TEST

START_TEST(schedule_and_back_off)
{
    ra_shared_keys_t *share = new_share();
    apr_time_t t = SEC(NOW_SEC);
    /* failures: retry after 10, 20, 40, 60 (the refresh caps it), 60 s */
    static const int backoff[] = { 10, 20, 40, 60, 60 };

    ck_assert(ra_shared_keys_begin(share, t)); /* a fresh block is due */
    ck_assert_int_eq(ra_shared_keys_end(share, t, 1, SEC(60), SEC(10)), SEC(60));
    ck_assert(!ra_shared_keys_begin(share, t + SEC(59)));
    ck_assert(ra_shared_keys_begin(share, t + SEC(60)));
    t += SEC(60);
    for (size_t i = 0; i < sizeof(backoff) / sizeof(backoff[0]); i++) {
        ck_assert_int_eq(ra_shared_keys_end(share, t, 0, SEC(60), SEC(10)), SEC(backoff[i]));
        ck_assert_uint_eq(ra_shared_keys_failures(share), i + 1);
        ck_assert(!ra_shared_keys_begin(share, t + SEC(backoff[i]) - 1));
        t += SEC(backoff[i]);
        ck_assert(ra_shared_keys_begin(share, t));
    }
    ck_assert_int_eq(ra_shared_keys_end(share, t, 1, SEC(60), SEC(10)), SEC(60));
    ck_assert_uint_eq(ra_shared_keys_failures(share), 0);

    /* a refresh shorter than the minimum interval: failures back off to it */
    ck_assert(ra_shared_keys_begin(share, t + SEC(60)));
    ck_assert_int_eq(ra_shared_keys_end(share, t, 0, SEC(2), SEC(10)), SEC(10));
}
END_TEST

START_TEST(adopt_refetches_what_a_dead_fetcher_left)
{
    ra_shared_keys_t *share = new_share();
    apr_time_t t = SEC(NOW_SEC);

    ck_assert(ra_shared_keys_begin(share, t));
    ra_shared_keys_end(share, t, 1, SEC(3600), SEC(60));
    ra_shared_keys_adopt(share); /* nothing was left in flight */
    ck_assert(!ra_shared_keys_begin(share, t + SEC(1)));
    ra_shared_keys_schedule(share, 0);
    ck_assert(ra_shared_keys_begin(share, t + SEC(1)));
    ra_shared_keys_schedule(share, t + SEC(3600));
    /* its child was killed here, mid-fetch */
    ra_shared_keys_adopt(share);
    ck_assert(ra_shared_keys_begin(share, t + SEC(2)));
}
END_TEST

START_TEST(early_refresh_once_per_interval)
{
    ra_shared_keys_t *share = new_share();
    apr_time_t t = SEC(NOW_SEC);
    apr_uint64_t ticket;

    ck_assert(ra_shared_keys_begin(share, t));
    /* a scheduled fetch under way: it may predate the key, so ask again later */
    ck_assert_int_eq(ra_shared_keys_ask(share, t, SEC(60), &ticket),
                     RA_SHARED_KEYS_FETCH_IN_FLIGHT);
    ra_shared_keys_end(share, t, 1, SEC(3600), SEC(60));
    ck_assert(ra_shared_keys_wait(share, ticket, 0));

    ck_assert_int_eq(ra_shared_keys_ask(share, t + SEC(1), SEC(60), &ticket),
                     RA_SHARED_KEYS_FETCH_COMING); /* asks */
    ck_assert_int_eq(ra_shared_keys_ask(share, t + SEC(1), SEC(60), &ticket),
                     RA_SHARED_KEYS_FETCH_COMING); /* waits for that one */
    ck_assert(ra_shared_keys_begin(share, t + SEC(1)));
    ck_assert_int_eq(ra_shared_keys_ask(share, t + SEC(2), SEC(60), &ticket),
                     RA_SHARED_KEYS_FETCH_IN_FLIGHT);
    ra_shared_keys_end(share, t + SEC(2), 1, SEC(3600), SEC(60));
    ck_assert(ra_shared_keys_wait(share, ticket, 0));
    /* the refresh came and the kid is still unknown: no second one soon */
    ck_assert_int_eq(ra_shared_keys_ask(share, t + SEC(3), SEC(60), &ticket),
                     RA_SHARED_KEYS_NO_FETCH);
    ck_assert_int_eq(ra_shared_keys_ask(share, t + SEC(60), SEC(60), &ticket),
                     RA_SHARED_KEYS_NO_FETCH);
    ck_assert(!ra_shared_keys_begin(share, t + SEC(60)));
    ck_assert_int_eq(ra_shared_keys_ask(share, t + SEC(61), SEC(60), &ticket),
                     RA_SHARED_KEYS_FETCH_COMING);
    ck_assert(ra_shared_keys_begin(share, t + SEC(61)));
    /* a clock set back an hour still lets an unknown kid ask */
    ra_shared_keys_end(share, t + SEC(61), 1, SEC(3600), SEC(60));
    ck_assert_int_eq(ra_shared_keys_ask(share, t - SEC(3600), SEC(60), &ticket),
                     RA_SHARED_KEYS_FETCH_COMING);
}
END_TEST

/* Many threads meeting unknown kids at once (a flood of made-up kids, as
 * many children would): one early fetch, whatever their number. */
#define FLOOD_THREADS 8
#define FLOOD_ASKS 500

typedef struct {
    ra_shared_keys_t *share;
    apr_time_t now;
    int waits;
} flood_t;

static void *APR_THREAD_FUNC flood(apr_thread_t *thread, void *data)
{
    flood_t *f = data;
    apr_uint64_t ticket;
    for (int i = 0; i < FLOOD_ASKS; i++) {
        f->waits += ra_shared_keys_ask(f->share, f->now, SEC(60), &ticket)
                    != RA_SHARED_KEYS_NO_FETCH;
    }
    (void)thread; /* returns rather than apr_thread_exit: ASan misreads pthread_exit */
    return NULL;
}

START_TEST(flood_of_unknown_kids_asks_once)
{
    ra_shared_keys_t *share = new_share();
    apr_time_t t = SEC(NOW_SEC);
    apr_thread_t *threads[FLOOD_THREADS];
    flood_t floods[FLOOD_THREADS];
    apr_status_t rv;

    ck_assert(ra_shared_keys_begin(share, t));
    ra_shared_keys_end(share, t, 1, SEC(3600), SEC(60));
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < FLOOD_THREADS; i++) {
            floods[i] = (flood_t){ share, t + SEC(1 + round), 0 };
            ck_assert_int_eq(apr_thread_create(&threads[i], NULL, flood, &floods[i], pool),
                             APR_SUCCESS);
        }
        for (int i = 0; i < FLOOD_THREADS; i++) {
            apr_thread_join(&rv, threads[i]);
        }
        /* round 0 asked once and every ask waits for it; later rounds,
         * after that fetch, within the interval: nothing asked, no waiting */
        ck_assert_int_eq(ra_shared_keys_begin(share, t + SEC(1 + round)), round == 0);
        for (int i = 0; i < FLOOD_THREADS; i++) {
            ck_assert_int_eq(floods[i].waits, round == 0 ? FLOOD_ASKS : 0);
        }
        if (round == 0) {
            ra_shared_keys_end(share, t + SEC(1), 1, SEC(3600), SEC(60));
        }
    }
}
END_TEST

typedef struct {
    ra_shared_keys_t *share;
    apr_interval_time_t after;
} finisher_t;

static void *APR_THREAD_FUNC finish_fetch(apr_thread_t *thread, void *data)
{
    finisher_t *f = data;
    apr_sleep(f->after);
    ra_shared_keys_end(f->share, apr_time_now(), 0, SEC(60), SEC(1));
    (void)thread;
    return NULL;
}

START_TEST(wait_is_bounded)
{
    ra_shared_keys_t *share = new_share();
    finisher_t finisher = { share, 100000 };
    apr_thread_t *thread;
    apr_uint64_t ticket;
    apr_status_t rv;
    apr_time_t start;

    ck_assert_int_eq(ra_shared_keys_ask(share, apr_time_now(), SEC(1), &ticket),
                     RA_SHARED_KEYS_FETCH_COMING);
    ck_assert(ra_shared_keys_begin(share, apr_time_now()));
    start = apr_time_now();
    ck_assert(!ra_shared_keys_wait(share, ticket, 150000)); /* nothing finishes */
    ck_assert_int_ge(apr_time_now() - start, 150000);
    ck_assert_int_lt(apr_time_now() - start, SEC(1));

    ck_assert_int_eq(apr_thread_create(&thread, NULL, finish_fetch, &finisher, pool),
                     APR_SUCCESS);
    start = apr_time_now();
    ck_assert(ra_shared_keys_wait(share, ticket, SEC(5)));
    ck_assert_int_lt(apr_time_now() - start, SEC(1));
    apr_thread_join(&rv, thread);
}
END_TEST

/* ---- local keys ---- */

START_TEST(local_keys_takes_newer_bundles)
{
    ra_local_keys_t *local = ra_local_keys_create(pool);
    ra_shared_keys_t *share = new_share();
    ra_fetched_keys_t *made = snapshot(NULL, JWKS(public_jwk(rsa_a, "a", NULL)));
    const char *error = NULL;
    apr_pool_t *request;

    ck_assert_ptr_null(ra_local_keys_hold(local, pool));
    ck_assert_int_eq(ra_local_keys_update(local, share, SOURCE, 1, pool, &error), 0);
    ra_shared_keys_store(share, made->bundle, made->bundle_len);
    ck_assert_int_eq(ra_local_keys_update(local, share, SOURCE, 1, pool, &error), 1);
    ck_assert_int_eq(ra_local_keys_update(local, share, SOURCE, 1, pool, &error), 0);

    apr_pool_create(&request, pool);
    const ra_fetched_keys_t *held = ra_local_keys_hold(local, request);
    ck_assert_str_eq(ra_keyset_kids(pool, held->keys), "a");

    /* new keys while a request holds the old ones: it keeps them */
    ra_fetched_keys_t *next = snapshot(NULL, JWKS(public_jwk(rsa_b, "b", NULL)));
    ra_shared_keys_store(share, next->bundle, next->bundle_len);
    ck_assert_int_eq(ra_local_keys_update(local, share, SOURCE, 0, pool, &error), 1);
    ck_assert_str_eq(ra_keyset_kids(pool, held->keys), "a");
    ck_assert_str_eq(ra_keyset_kids(pool, ra_local_keys_hold(local, pool)->keys), "b");
    apr_pool_destroy(request); /* the old snapshot goes with its last holder */

    /* a bundle of another source is refused once, not on every request */
    ck_assert_int_eq(ra_local_keys_update(local, share, "https://other.test/", 1, pool, &error), 0);
    ra_shared_keys_store(share, made->bundle, made->bundle_len);
    ck_assert_int_eq(ra_local_keys_update(local, share, "https://other.test/", 1, pool, &error),
                     -1);
    ck_assert_ptr_nonnull(error);
    ck_assert_int_eq(ra_local_keys_update(local, share, "https://other.test/", 1, pool, &error), 0);
    ck_assert_str_eq(ra_keyset_kids(pool, ra_local_keys_hold(local, pool)->keys), "b");
    ra_fetched_keys_destroy(made);
    ra_fetched_keys_destroy(next);
}
END_TEST

/* Worker threads verify tokens while another thread rotates the keys as
 * fast as it can: every token signed with the key both sets hold verifies,
 * and no snapshot is used after it was freed (ASan). */
#define RING_READERS 6
#define RING_ROTATIONS 200

typedef struct {
    ra_local_keys_t *local;
    ra_shared_keys_t *share;
    const char *token;
    volatile int *rotating;
    int verified, failed;
} reader_t;

static void *APR_THREAD_FUNC local_keys_reader(apr_thread_t *thread, void *data)
{
    reader_t *r = data;
    apr_pool_t *own, *request;
    const char *error;

    apr_pool_create_unmanaged_ex(&own, NULL, NULL);
    apr_pool_create(&request, own);
    while (__atomic_load_n(r->rotating, __ATOMIC_ACQUIRE)) {
        ra_local_keys_update(r->local, r->share, SOURCE, 0, request, &error);
        const ra_fetched_keys_t *snap = ra_local_keys_hold(r->local, request);
        if (snap && verify(request, snap->keys, NULL, r->token) == RA_TOKEN_OK) {
            r->verified++;
        }
        else {
            r->failed++;
        }
        apr_pool_clear(request);
    }
    apr_pool_destroy(own);
    (void)thread;
    return NULL;
}

START_TEST(local_keys_swaps_under_running_threads)
{
    ra_local_keys_t *local = ra_local_keys_create(pool);
    ra_shared_keys_t *share = new_share();
    /* two key sets that both hold "a": a rotation that keeps it */
    ra_fetched_keys_t *sets[2] = {
        snapshot(NULL, JWKS(public_jwk(rsa_a, "a", NULL), public_jwk(ec_key, "ec", NULL))),
        snapshot(NULL, JWKS(public_jwk(rsa_b, "b", NULL), public_jwk(rsa_a, "a", NULL))),
    };
    volatile int rotating = 1;
    apr_thread_t *threads[RING_READERS];
    reader_t readers[RING_READERS];
    const char *jwt = token(rsa_a, "a", "x", TENANT_A), *error;
    apr_status_t rv;

    ra_shared_keys_store(share, sets[0]->bundle, sets[0]->bundle_len);
    ck_assert_int_eq(ra_local_keys_update(local, share, SOURCE, 1, pool, &error), 1);
    for (int i = 0; i < RING_READERS; i++) {
        readers[i] = (reader_t){ local, share, jwt, &rotating, 0, 0 };
        ck_assert_int_eq(apr_thread_create(&threads[i], NULL, local_keys_reader, &readers[i], pool),
                         APR_SUCCESS);
    }
    for (int i = 1; i <= RING_ROTATIONS; i++) {
        ra_shared_keys_store(share, sets[i % 2]->bundle, sets[i % 2]->bundle_len);
        apr_sleep(1000);
    }
    __atomic_store_n(&rotating, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < RING_READERS; i++) {
        apr_thread_join(&rv, threads[i]);
        ck_assert_int_eq(readers[i].failed, 0);
        ck_assert_int_gt(readers[i].verified, 0);
    }
    ck_assert_uint_eq(ra_shared_keys_published(share), RING_ROTATIONS + 1);
    ra_fetched_keys_destroy(sets[0]);
    ra_fetched_keys_destroy(sets[1]);
}
END_TEST

Suite *url_keys_suite(void)
{
    Suite *s = suite_create("url_keys");
    TCase *tc = pool_tcase(s, "documents");
    tcase_add_test(tc, urls);
    tcase_add_test(tc, metadata);
    tcase_add_test(tc, issuer_template);

    tc = slow_fixture_tcase(s, "keys", keys_setup, keys_teardown);
    tcase_add_test(tc, issuer_template_in_verify);
    tcase_add_test(tc, jwks_leaves_out_unusable_keys);
    tcase_add_test(tc, jwks_without_a_usable_key_is_refused);
    tcase_add_test(tc, bundle_longer_than_the_shared_block_is_refused);
    tcase_add_test(tc, generations_increase);
    tcase_add_test(tc, bundle_round_trip);
    tcase_add_test(tc, bad_documents_make_no_snapshot);
    tcase_add_test(tc, local_keys_takes_newer_bundles);
    tcase_add_test(tc, local_keys_swaps_under_running_threads);

    tc = pool_tcase(s, "shared block");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, share_stores_and_loads);
    tcase_add_test(tc, schedule_and_back_off);
    tcase_add_test(tc, adopt_refetches_what_a_dead_fetcher_left);
    tcase_add_test(tc, early_refresh_once_per_interval);
    tcase_add_test(tc, flood_of_unknown_kids_asks_once);
    tcase_add_test(tc, wait_is_bounded);
    return s;
}
