/* A streaming JSON writer: the one serializer of the module's responses
 * (entities, list pages, and what builds on them: OData metadata levels,
 * inner $batch bodies, audit events' nested objects). It writes compact JSON
 * straight into a sink as the caller walks its data, so a response costs no
 * tree and no allocation beyond its own bytes. Its output is byte for byte
 * jansson's json_dumps(JSON_COMPACT) of the same values (the unit tests and
 * tests/fuzz/fuzz_json_writer.c hold it to that), but for U+2028 and U+2029,
 * which it escapes (\u2028, \u2029) so a body stays valid JavaScript too; a
 * JSON parser reads the same string either way.
 *
 * Strings must be UTF-8 (what jansson parsed, ids, our own text). A byte
 * that does not belong to a valid UTF-8 sequence (by RFC 3629, as jansson
 * checks it: no overlong forms, no surrogates, nothing above U+10FFFF) is
 * written as U+FFFD and counted in ra_jw_t.replaced, so the output stays
 * valid JSON whatever reaches the writer; the caller decides whether that
 * is worth a log line. NUL inside a counted string is written as \u0000.
 *
 * Misuse (a value where a member name belongs, a name outside an object,
 * closing what is not open, nesting deeper than RA_JW_MAX_DEPTH) writes
 * nothing more and makes ra_jw_finish return APR_EINVAL; the sink's first
 * error stops the writer the same way and is returned. Pure C over APR and
 * (for doubles only) jansson; no httpd. */
#ifndef RA_JSON_WRITER_H
#define RA_JSON_WRITER_H

#include <apr_pools.h>
#include <apr_errno.h>
#include <jansson.h>

/* Receives the output in pieces, in order; anything but APR_SUCCESS stops
 * the writer. The glue's sink appends to an apr_bucket_brigade. */
typedef apr_status_t (*ra_jw_sink_fn)(void *baton, const char *data, apr_size_t len);

/* The odata.metadata levels of OData JSON (4.0 section 3.1): a control
 * member written with ra_jw_annotation* appears only when the writer's level
 * is at least the one it is given. */
typedef enum {
    RA_JW_METADATA_NONE = 0,
    RA_JW_METADATA_MINIMAL,
    RA_JW_METADATA_FULL
} ra_jw_metadata_e;

/* Objects and arrays nest this deep at most (an audit event's
 * modifiedProperties inside resources inside a $batch response is 6). */
#define RA_JW_MAX_DEPTH 32

/* Bytes gathered before one call of the sink. */
#define RA_JW_BUFFER_SIZE 2048

typedef struct {
    ra_jw_sink_fn sink;
    void *baton;
    ra_jw_metadata_e metadata;  /* RA_JW_METADATA_MINIMAL after ra_jw_init */
    apr_status_t status;        /* first error; APR_SUCCESS while writing */
    apr_size_t replaced;        /* invalid UTF-8 bytes written as U+FFFD */
    apr_size_t written;         /* bytes handed to the sink or buffered */
    /* private */
    int depth;
    int in_string;              /* between ra_jw_string_open and _close */
    int want_name;              /* in an object, a member name comes next */
    apr_uint64_t is_object;     /* bit d: level d is an object */
    apr_uint64_t has_items;     /* bit d: level d has a member or element */
    apr_size_t used;
    char buffer[RA_JW_BUFFER_SIZE];
} ra_jw_t;

/* A writer on sink, at metadata level minimal. The writer may live on the
 * stack: it holds no allocation. */
void ra_jw_init(ra_jw_t *jw, ra_jw_sink_fn sink, void *baton);

/* Flushes what is buffered; APR_SUCCESS, or the first error (APR_EINVAL for
 * misuse or an object or array left open). */
apr_status_t ra_jw_finish(ra_jw_t *jw);

/* Structure. */
void ra_jw_object_open(ra_jw_t *jw);
void ra_jw_object_close(ra_jw_t *jw);
void ra_jw_array_open(ra_jw_t *jw);
void ra_jw_array_close(ra_jw_t *jw);

/* The next member's name (inside an object, before its value). */
void ra_jw_name(ra_jw_t *jw, const char *name);
void ra_jw_namen(ra_jw_t *jw, const char *name, apr_size_t len);

/* Values: a member's (after ra_jw_name), an array's element, or the top. */
void ra_jw_string(ra_jw_t *jw, const char *s);          /* NULL writes null */
void ra_jw_stringn(ra_jw_t *jw, const char *s, apr_size_t len);
void ra_jw_null(ra_jw_t *jw);
void ra_jw_bool(ra_jw_t *jw, int value);
void ra_jw_integer(ra_jw_t *jw, apr_int64_t value);
/* As jansson writes a real (%.17g, ".0" when integral); NaN and infinities
 * have no JSON form: APR_EINVAL. */
void ra_jw_real(ra_jw_t *jw, double value);

/* One string value written in pieces (an ETag's W/"...", a nextLink's URL
 * and query), escaped as one: no copy joins them first. A UTF-8 character
 * may not be cut between two pieces. */
void ra_jw_string_open(ra_jw_t *jw);
void ra_jw_string_append(ra_jw_t *jw, const char *s, apr_size_t len);
void ra_jw_string_close(ra_jw_t *jw);

/* A complete JSON value already serialized (an inner $batch response body
 * that another writer produced first, to learn its status): copied as it
 * is, so it must come from this writer or jansson. */
void ra_jw_raw(ra_jw_t *jw, const char *json, apr_size_t len);

/* A value jansson holds (a request body's value an audit event records as
 * modified), written by this writer: the one bridge from a parsed tree. */
void ra_jw_json(ra_jw_t *jw, const json_t *value);

/* Shorthands for a member: name and value. */
void ra_jw_member_string(ra_jw_t *jw, const char *name, const char *value);
void ra_jw_member_integer(ra_jw_t *jw, const char *name, apr_int64_t value);
void ra_jw_member_bool(ra_jw_t *jw, const char *name, int value);

/* Whether control information of level belongs in the output. */
int ra_jw_wants(const ra_jw_t *jw, ra_jw_metadata_e level);

/* A control member (@odata.context, @odata.etag, @odata.type, ...) written
 * only when ra_jw_wants(jw, level). */
void ra_jw_annotation(ra_jw_t *jw, ra_jw_metadata_e level, const char *name,
                      const char *value);

/* A sink that collects the output in pool: ra_jw_text_sink with a
 * ra_jw_text_t baton (zeroed but for pool). For error bodies, tests and
 * anything that needs the whole text. text is NUL-terminated after
 * ra_jw_finish; len excludes the NUL. */
typedef struct {
    apr_pool_t *pool;
    char *text;
    apr_size_t len, size;
} ra_jw_text_t;

apr_status_t ra_jw_text_sink(void *baton, const char *data, apr_size_t len);

#endif
