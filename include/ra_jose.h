/* The one gate between bytes from outside (bearer tokens, key files) and
 * cjose. Debian 12's libcjose0 (0.6.2.1) assert()s in its base64url decoder
 * on input such as "B=" (padding after a length of 1 mod 4, cisco/cjose#123),
 * which aborts the whole httpd process that called it. Every cjose call that
 * decodes outside bytes goes through this unit, which lets only strict
 * base64url reach the decoder; no other file calls those cjose functions
 * (a test in tests/integration/test_docs.py greps for it). */
#ifndef RA_JOSE_H
#define RA_JOSE_H

#include <stddef.h>

#include <apr_pools.h>
#include <cjose/cjose.h>
#include <jansson.h>

/* Whether s[0..len) is unpadded base64url (RFC 7515 2): only A-Z a-z 0-9 - _,
 * no '=', and a length that is not 1 mod 4 (no whole byte ends there). */
int ra_jose_b64url_valid(const char *s, size_t len);

/* Parses a JWS in compact form: exactly three dot-separated segments, each
 * strict base64url, the header not empty and a JSON object that names each
 * member once. NULL when the token is not of that form or cjose refuses it. */
cjose_jws_t *ra_jose_jws_import(const char *token, size_t len);

/* Decodes a compact token's header segment to JSON, for diagnosing a token
 * ra_jose_jws_import refused. NULL when it is not strict base64url JSON. The
 * caller owns the reference. */
json_t *ra_jose_header(const char *token, size_t len);

/* Imports one JWK object: every member cjose would base64url-decode (n, e,
 * d, p, q, dp, dq, qi, x, y, k) must be a strict base64url string, n/e (RSA)
 * and x/y (EC) present and not empty. NULL with *error naming the member. */
cjose_jwk_t *ra_jose_jwk_import(apr_pool_t *pool, json_t *jwk, const char **error);

/* A copy of obj's member name from pool when it is a string, else NULL
 * (JWK members, claims). */
const char *ra_jose_string_member(apr_pool_t *pool, json_t *obj, const char *name);

/* A JOSE header value (alg, kid) as logs and WWW-Authenticate may quote it:
 * a copy when it is 1 to 128 base64, base64url or '.' characters, else
 * "(not printable)". */
const char *ra_jose_printable(apr_pool_t *pool, const char *value);

#endif
