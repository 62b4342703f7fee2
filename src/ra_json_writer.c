/* The streaming JSON writer (include/ra_json_writer.h): compact JSON as
 * jansson writes it, straight into a sink. */
#include "ra_json_writer.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <apr_strings.h>
#include <jansson.h>

void ra_jw_init(ra_jw_t *jw, ra_jw_sink_fn sink, void *baton)
{
    memset(jw, 0, offsetof(ra_jw_t, buffer));
    jw->sink = sink;
    jw->baton = baton;
    jw->metadata = RA_JW_METADATA_MINIMAL;
    jw->status = APR_SUCCESS;
}

static void flush(ra_jw_t *jw)
{
    if (jw->used && jw->status == APR_SUCCESS) {
        jw->status = jw->sink(jw->baton, jw->buffer, jw->used);
    }
    jw->used = 0;
}

static void put(ra_jw_t *jw, const char *data, apr_size_t len)
{
    if (jw->status != APR_SUCCESS) {
        return;
    }
    jw->written += len;
    if (jw->used + len > sizeof(jw->buffer)) {
        flush(jw);
        if (len > sizeof(jw->buffer) / 2) { /* a long run goes straight through */
            if (jw->status == APR_SUCCESS) {
                jw->status = jw->sink(jw->baton, data, len);
            }
            return;
        }
    }
    memcpy(jw->buffer + jw->used, data, len);
    jw->used += len;
}

static void put_char(ra_jw_t *jw, char c)
{
    if (jw->used == sizeof(jw->buffer)) {
        flush(jw);
    }
    if (jw->status == APR_SUCCESS) {
        jw->buffer[jw->used++] = c;
        jw->written++;
    }
}

static void misuse(ra_jw_t *jw)
{
    if (jw->status == APR_SUCCESS) {
        jw->status = APR_EINVAL;
    }
}

/* Bit d of a level mask; levels 0 (the top) to RA_JW_MAX_DEPTH. */
#define BIT(d) ((apr_uint64_t)1 << (d))
#if RA_JW_MAX_DEPTH >= 64
#error "RA_JW_MAX_DEPTH needs a wider level mask"
#endif

/* Before any value: the separator it needs, and whether it may come here. */
static int begin_value(ra_jw_t *jw)
{
    if (jw->status != APR_SUCCESS || jw->in_string) {
        misuse(jw);
        return 0;
    }
    if (jw->depth == 0) {
        if (jw->has_items & BIT(0)) { /* one value at the top */
            misuse(jw);
            return 0;
        }
        jw->has_items |= BIT(0);
        return 1;
    }
    if (jw->is_object & BIT(jw->depth)) {
        if (jw->want_name) {
            misuse(jw);
            return 0;
        }
        jw->want_name = 1; /* the member is complete once its value is */
        return 1;
    }
    if (jw->has_items & BIT(jw->depth)) {
        put_char(jw, ',');
    }
    jw->has_items |= BIT(jw->depth);
    return 1;
}

static void open_level(ra_jw_t *jw, int object)
{
    if (!begin_value(jw)) {
        return;
    }
    if (jw->depth >= RA_JW_MAX_DEPTH) {
        misuse(jw);
        return;
    }
    jw->depth++;
    jw->is_object = object ? jw->is_object | BIT(jw->depth) : jw->is_object & ~BIT(jw->depth);
    jw->has_items &= ~BIT(jw->depth);
    jw->want_name = object;
    put_char(jw, object ? '{' : '[');
}

static void close_level(ra_jw_t *jw, int object)
{
    if (jw->status != APR_SUCCESS || jw->in_string || jw->depth == 0
        || !(jw->is_object & BIT(jw->depth)) != !object || (object && !jw->want_name)) {
        misuse(jw);
        return;
    }
    put_char(jw, object ? '}' : ']');
    jw->depth--;
    jw->want_name = jw->depth > 0 && (jw->is_object & BIT(jw->depth));
}

void ra_jw_object_open(ra_jw_t *jw)
{
    open_level(jw, 1);
}

void ra_jw_object_close(ra_jw_t *jw)
{
    close_level(jw, 1);
}

void ra_jw_array_open(ra_jw_t *jw)
{
    open_level(jw, 0);
}

void ra_jw_array_close(ra_jw_t *jw)
{
    close_level(jw, 0);
}

/* The length of the UTF-8 sequence at s (at most left bytes) when it is
 * valid as jansson's utf8_check_full judges it; else 0. */
static apr_size_t utf8_length(const unsigned char *s, apr_size_t left)
{
    unsigned char c = s[0];
    apr_size_t n;
    apr_uint32_t value;

    if (c < 0xC2 || c > 0xF4) { /* continuation bytes, overlong 2-byte leads, > U+10FFFF */
        return 0;
    }
    n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n > left) {
        return 0;
    }
    value = c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
    for (apr_size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        value = (value << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && (value < 0x800 || (value >= 0xD800 && value <= 0xDFFF)))
        || (n == 4 && (value < 0x10000 || value > 0x10FFFF))) {
        return 0;
    }
    return n;
}

/* 0x01 and 0x80 in each byte of a word. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Whether none of the eight bytes at s needs a look, being printable ASCII
 * other than '"' and '\': most of a list page's text is, so it is checked a
 * word at a time. (x - ONES * n) & ~x & HIGHS is nonzero exactly when some
 * byte of x is below n (for n <= 0x80); a byte equal to c is a zero byte
 * of x ^ (ONES * c), below 1; a non-ASCII byte has its high bit set. */
static int plain_word(const unsigned char *s)
{
    apr_uint64_t w, quote, backslash;

    memcpy(&w, s, sizeof(w));
    quote = w ^ (ONES * '"');
    backslash = w ^ (ONES * '\\');
    return ((((w - ONES * 0x20) & ~w) | ((quote - ONES) & ~quote)
             | ((backslash - ONES) & ~backslash) | w) & HIGHS) == 0;
}

/* The characters of a string value, escaped: runs that need nothing are
 * copied whole. */
static void put_escaped(ra_jw_t *jw, const char *text, apr_size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)text, *end = s + len, *run = s;

    while (s < end) {
        if (end - s >= 8 && plain_word(s)) {
            s += 8;
            continue;
        }
        unsigned char c = *s;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            s++;
            continue;
        }
        apr_size_t n = c < 0x80 ? 1 : utf8_length(s, (apr_size_t)(end - s));
        if (n > 1 && !(n == 3 && c == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9))) {
            s += n; /* a valid non-ASCII character: as it is */
            continue;
        }
        put(jw, (const char *)run, (apr_size_t)(s - run));
        if (n == 3) {
            put(jw, s[2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
        }
        else if (n == 0) {
            put(jw, "\xEF\xBF\xBD", 3);
            jw->replaced++;
            n = 1;
        }
        else {
            char escape[6] = { '\\', 0 };
            apr_size_t escape_len = 2;
            switch (c) {
            case '"': escape[1] = '"'; break;
            case '\\': escape[1] = '\\'; break;
            case '\b': escape[1] = 'b'; break;
            case '\f': escape[1] = 'f'; break;
            case '\n': escape[1] = 'n'; break;
            case '\r': escape[1] = 'r'; break;
            case '\t': escape[1] = 't'; break;
            default: /* jansson's \u%04X */
                memcpy(escape, "\\u00", 4);
                escape[4] = hex[c >> 4];
                escape[5] = hex[c & 0xF];
                escape_len = 6;
                break;
            }
            put(jw, escape, escape_len);
        }
        s += n;
        run = s;
    }
    put(jw, (const char *)run, (apr_size_t)(s - run));
}

void ra_jw_namen(ra_jw_t *jw, const char *name, apr_size_t len)
{
    if (jw->status != APR_SUCCESS || jw->in_string || jw->depth == 0
        || !(jw->is_object & BIT(jw->depth)) || !jw->want_name) {
        misuse(jw);
        return;
    }
    if (jw->has_items & BIT(jw->depth)) {
        put_char(jw, ',');
    }
    jw->has_items |= BIT(jw->depth);
    put_char(jw, '"');
    put_escaped(jw, name, len);
    put(jw, "\":", 2);
    jw->want_name = 0;
}

void ra_jw_name(ra_jw_t *jw, const char *name)
{
    ra_jw_namen(jw, name, strlen(name));
}

void ra_jw_stringn(ra_jw_t *jw, const char *s, apr_size_t len)
{
    if (begin_value(jw)) {
        put_char(jw, '"');
        put_escaped(jw, s, len);
        put_char(jw, '"');
    }
}

void ra_jw_string(ra_jw_t *jw, const char *s)
{
    if (s) {
        ra_jw_stringn(jw, s, strlen(s));
    }
    else {
        ra_jw_null(jw);
    }
}

void ra_jw_string_open(ra_jw_t *jw)
{
    if (begin_value(jw)) {
        put_char(jw, '"');
        jw->in_string = 1;
    }
}

void ra_jw_string_append(ra_jw_t *jw, const char *s, apr_size_t len)
{
    if (!jw->in_string) {
        misuse(jw);
        return;
    }
    put_escaped(jw, s, len);
}

void ra_jw_string_close(ra_jw_t *jw)
{
    if (!jw->in_string) {
        misuse(jw);
        return;
    }
    jw->in_string = 0;
    put_char(jw, '"');
}

static void put_literal(ra_jw_t *jw, const char *text, apr_size_t len)
{
    if (begin_value(jw)) {
        put(jw, text, len);
    }
}

void ra_jw_null(ra_jw_t *jw)
{
    put_literal(jw, "null", 4);
}

void ra_jw_bool(ra_jw_t *jw, int value)
{
    if (value) {
        put_literal(jw, "true", 4);
    }
    else {
        put_literal(jw, "false", 5);
    }
}

void ra_jw_integer(ra_jw_t *jw, apr_int64_t value)
{
    char digits[24];
    int len = apr_snprintf(digits, sizeof(digits), "%" APR_INT64_T_FMT, value);
    put_literal(jw, digits, (apr_size_t)len);
}

/* A real is rare in this service's output, and its shortest exact form is
 * jansson's to get right: one temporary json_t, dumped into a stack buffer. */
void ra_jw_real(ra_jw_t *jw, double value)
{
    char digits[64];
    json_t *real = isfinite(value) ? json_real(value) : NULL;
    size_t len = real ? json_dumpb(real, digits, sizeof(digits), JSON_ENCODE_ANY) : 0;

    json_decref(real);
    if (len == 0 || len > sizeof(digits)) {
        misuse(jw);
        return;
    }
    put_literal(jw, digits, len);
}

void ra_jw_raw(ra_jw_t *jw, const char *json, apr_size_t len)
{
    if (len == 0) {
        misuse(jw);
        return;
    }
    put_literal(jw, json, len);
}

void ra_jw_json(ra_jw_t *jw, const json_t *value)
{
    const char *name;
    size_t name_len, i;
    json_t *member;

    switch (json_typeof(value)) {
    case JSON_OBJECT:
        ra_jw_object_open(jw);
        json_object_keylen_foreach((json_t *)value, name, name_len, member) {
            ra_jw_namen(jw, name, name_len);
            ra_jw_json(jw, member);
        }
        ra_jw_object_close(jw);
        break;
    case JSON_ARRAY:
        ra_jw_array_open(jw);
        json_array_foreach(value, i, member) {
            ra_jw_json(jw, member);
        }
        ra_jw_array_close(jw);
        break;
    case JSON_STRING:
        ra_jw_stringn(jw, json_string_value(value), json_string_length(value));
        break;
    case JSON_INTEGER:
        ra_jw_integer(jw, json_integer_value(value));
        break;
    case JSON_REAL:
        ra_jw_real(jw, json_real_value(value));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        ra_jw_bool(jw, json_is_true(value));
        break;
    default:
        ra_jw_null(jw);
        break;
    }
}

void ra_jw_member_string(ra_jw_t *jw, const char *name, const char *value)
{
    ra_jw_name(jw, name);
    ra_jw_string(jw, value);
}

void ra_jw_member_integer(ra_jw_t *jw, const char *name, apr_int64_t value)
{
    ra_jw_name(jw, name);
    ra_jw_integer(jw, value);
}

void ra_jw_member_bool(ra_jw_t *jw, const char *name, int value)
{
    ra_jw_name(jw, name);
    ra_jw_bool(jw, value);
}

int ra_jw_wants(const ra_jw_t *jw, ra_jw_metadata_e level)
{
    return jw->metadata >= level;
}

void ra_jw_annotation(ra_jw_t *jw, ra_jw_metadata_e level, const char *name,
                      const char *value)
{
    if (ra_jw_wants(jw, level)) {
        ra_jw_member_string(jw, name, value);
    }
}

apr_status_t ra_jw_finish(ra_jw_t *jw)
{
    if (jw->depth != 0 || jw->in_string) {
        misuse(jw);
    }
    flush(jw);
    return jw->status;
}

apr_status_t ra_jw_text_sink(void *baton, const char *data, apr_size_t len)
{
    ra_jw_text_t *out = baton;

    if (out->len + len + 1 > out->size) {
        apr_size_t size = out->size ? out->size : 256;
        while (size < out->len + len + 1) {
            size *= 2;
        }
        char *text = apr_palloc(out->pool, size);
        if (out->len) {
            memcpy(text, out->text, out->len);
        }
        out->text = text;
        out->size = size;
    }
    memcpy(out->text + out->len, data, len);
    out->len += len;
    out->text[out->len] = '\0';
    return APR_SUCCESS;
}
