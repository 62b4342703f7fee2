/* The gate to cjose for outside bytes: see ra_jose.h for why. */
#include "ra_jose.h"

#include <string.h>

#include <apr_strings.h>

/* The base64url alphabet (RFC 4648 section 5) as a table: the gate runs
 * over every byte of every token, and a search of the alphabet per byte
 * cost more than a tenth of a first-sight RS256 verify. */
static const unsigned char b64url_alphabet[256] = {
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['-'] = 1, ['_'] = 1,
};

int ra_jose_b64url_valid(const char *s, size_t len)
{
    if (len % 4 == 1) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!b64url_alphabet[(unsigned char)s[i]]) { /* NUL included: fuzzers send it */
            return 0;
        }
    }
    return 1;
}

/* Splits a compact JWS into its three segment lengths; 0 unless there are
 * exactly three, each strict base64url, the header not empty. (An empty
 * signature decodes to nothing and then fails as a bad signature.) */
static int compact_segments(const char *token, size_t len, size_t seg[3])
{
    const char *start = token, *end = token + len;

    for (int i = 0; i < 3; i++) {
        const char *dot = i < 2 ? memchr(start, '.', (size_t)(end - start)) : end;
        if (!dot) {
            return 0;
        }
        seg[i] = (size_t)(dot - start);
        if (!ra_jose_b64url_valid(start, seg[i])) {
            return 0; /* a third dot lands here too: '.' is not base64url */
        }
        start = dot + 1;
    }
    return seg[0] > 0;
}

/* The header segment as JSON, parsed with the given jansson flags. */
static json_t *header_json(const char *token, size_t len, size_t flags)
{
    const char *dot = memchr(token, '.', len);
    size_t hlen = dot ? (size_t)(dot - token) : len;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    json_t *header = NULL;

    if (hlen == 0 || !ra_jose_b64url_valid(token, hlen)
        || !cjose_base64url_decode(token, hlen, &raw, &raw_len, NULL)) {
        return NULL;
    }
    header = json_loadb((const char *)raw, raw_len, flags, NULL);
    cjose_get_dealloc()(raw);
    return header;
}

cjose_jws_t *ra_jose_jws_import(const char *token, size_t len)
{
    size_t seg[3];
    json_t *header;

    if (!compact_segments(token, len, seg)) {
        return NULL;
    }
    /* cjose parses the header keeping the last of repeated members, so
     * {"alg":"none","alg":"RS256"} would be read one way here and maybe
     * another by whoever issued it: a header must name each member once,
     * as the claims must */
    if (!(header = header_json(token, len, JSON_REJECT_DUPLICATES))) {
        return NULL;
    }
    json_decref(header);
    return cjose_jws_import(token, len, NULL);
}

json_t *ra_jose_header(const char *token, size_t len)
{
    return header_json(token, len, 0);
}

/* Members cjose 0.6.2.1 base64url-decodes on import, per key type. */
static const char *const decoded_members[] = { "n", "e", "d", "p", "q", "dp", "dq",
                                               "qi", "x", "y", "k" };

static int required_member(const char *kty, const char *name)
{
    if (!strcmp(kty, "RSA")) {
        return !strcmp(name, "n") || !strcmp(name, "e");
    }
    if (!strcmp(kty, "EC")) {
        return !strcmp(name, "x") || !strcmp(name, "y");
    }
    return !strcmp(kty, "oct") && !strcmp(name, "k");
}

cjose_jwk_t *ra_jose_jwk_import(apr_pool_t *pool, json_t *jwk, const char **error)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    cjose_err err;
    cjose_jwk_t *key;

    memset(&err, 0, sizeof(err));
    if (!json_is_object(jwk) || !kty) {
        *error = "a JWK needs a string \"kty\"";
        return NULL;
    }
    for (size_t i = 0; i < sizeof(decoded_members) / sizeof(decoded_members[0]); i++) {
        const char *name = decoded_members[i];
        json_t *value = json_object_get(jwk, name);
        if (!value) {
            if (required_member(kty, name)) {
                *error = apr_psprintf(pool, "member \"%s\" is missing", name);
                return NULL;
            }
            continue;
        }
        if (!json_is_string(value) || json_string_length(value) == 0
            || !ra_jose_b64url_valid(json_string_value(value), json_string_length(value))) {
            *error = apr_psprintf(pool, "member \"%s\" is not unpadded base64url "
                                  "(RFC 7515: A-Z a-z 0-9 - _, no '=')", name);
            return NULL;
        }
    }
    key = cjose_jwk_import_json((cjose_header_t *)jwk, &err);
    if (!key) {
        *error = apr_pstrdup(pool, err.message ? err.message : "cjose refused it");
    }
    return key;
}

const char *ra_jose_printable(apr_pool_t *pool, const char *value)
{
    size_t len = strlen(value);
    if (len == 0 || len > 128
        || strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789+/=._-") != len) {
        return "(not printable)";
    }
    return apr_pstrdup(pool, value);
}

const char *ra_jose_string_member(apr_pool_t *pool, json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? apr_pstrdup(pool, json_string_value(v)) : NULL;
}
