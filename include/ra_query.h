/* OData system query options: the text of a request's query string becomes
 * a validated tree ($filter) and lists ($orderby, $select), never SQL. The
 * store generates SQL from these (ra_store.h), from a whitelist of columns
 * and placeholders. Pure logic over APR and jansson. */
#ifndef RA_QUERY_H
#define RA_QUERY_H

#include <apr_pools.h>

#include "ra_audit.h"
#include "ra_entity.h"

/* Limits that keep a hostile $filter cheap to parse and to run. */
#define RA_QUERY_FILTER_MAX_LENGTH 4096
#define RA_QUERY_FILTER_MAX_NODES 100
#define RA_QUERY_FILTER_MAX_DEPTH 32
#define RA_QUERY_TOP_MAX APR_INT64_C(1000000000)

/* The entity sets a query may address: partners (properties ra_prop_e) or
 * audit events (ra_audit_prop_e). A property is an int of its set's enum. */
typedef enum {
    RA_ENTITY_SET_PARTNERS = 0,
    RA_ENTITY_SET_AUDIT
} ra_entity_set_e;

/* A property of set: its JSON name, its kind and whether it may be null. */
const char *ra_query_prop_name(ra_entity_set_e set, int prop);
ra_prop_kind_e ra_query_prop_kind(ra_entity_set_e set, int prop);
int ra_query_prop_nullable(ra_entity_set_e set, int prop);

typedef enum {
    RA_QNODE_OR,
    RA_QNODE_AND,
    RA_QNODE_NOT,
    RA_QNODE_COMPARE,   /* property op literal */
    RA_QNODE_FUNCTION   /* startswith/endswith/contains(property, 'text') */
} ra_qnode_kind_e;

typedef enum { RA_Q_EQ, RA_Q_NE, RA_Q_GT, RA_Q_GE, RA_Q_LT, RA_Q_LE } ra_q_compare_e;
typedef enum { RA_Q_STARTSWITH, RA_Q_ENDSWITH, RA_Q_CONTAINS } ra_q_function_e;

typedef struct ra_qnode ra_qnode_t;
struct ra_qnode {
    ra_qnode_kind_e kind;
    ra_qnode_t *left, *right;  /* OR, AND: both; NOT: left */
    ra_prop_e prop;            /* COMPARE, FUNCTION */
    int op;                    /* ra_q_compare_e or ra_q_function_e */
    const char *text;          /* the literal's value; NULL for null */
    apr_int64_t ticks;         /* a DateTimeOffset literal's instant */
};

typedef struct {
    ra_prop_e prop;
    int descending;
} ra_order_t;

/* Bytes of a $skiptoken's signature: HMAC-SHA256 truncated (RFC 2104
 * section 5 allows it; 128 bits leave nothing to guess). */
#define RA_QUERY_TOKEN_MAC_LEN 16

/* Bytes (as JSON) of sort key values a $skiptoken holds besides the id:
 * keys past it are read again from the id's row, so a token, and the
 * nextLink, stay bounded whatever the sort keys hold. A token longer than
 * RA_QUERY_TOKEN_MAX base64url characters that way (a long id) holds the id
 * alone, every other key read again: at most 194 characters with a GUID
 * id, 192 with the longest (128). */
#define RA_QUERY_TOKEN_INLINE 48
#define RA_QUERY_TOKEN_MAX 200

/* One sort key's value in a $skiptoken: text (NULL for null), or ticks for
 * a DateTimeOffset property. */
typedef struct {
    const char *text;
    apr_int64_t ticks;
} ra_key_value_t;

/* order[] and after[] hold a key per property of either set */
_Static_assert((int)RA_AUDIT_PROP_COUNT <= (int)RA_PROP_COUNT, "ra_query_t's arrays are too short");

typedef struct {
    ra_entity_set_e set;        /* what the query lists */
    ra_qnode_t *filter;         /* NULL: every row */
    const char *filter_text;    /* decoded, for nextLink */
    ra_order_t order[RA_PROP_COUNT]; /* holds the id, the tie-breaker: last
                                      * unless $orderby names it earlier */
    int order_count;
    const char *orderby_text;
    unsigned select;            /* RA_PROP_BIT mask; 0: all */
    const char *select_text;
    /* $filter, $orderby and $select as the request spelt them (still
     * percent-encoded), which the next page's link echoes; NULL: absent */
    const char *filter_sent, *orderby_sent, *select_sent;
    apr_int64_t top, skip;      /* -1: absent */
    int count;                  /* $count=true */
    int after_set;              /* a $skiptoken: rows after after[] */
    int after_reread;           /* ... whose keys but the id are read again from the
                                 * id's row: one was too long for the token */
    ra_key_value_t after[RA_PROP_COUNT];
    /* its signature and what it signs, for ra_query_skiptoken_verify */
    unsigned char after_mac[RA_QUERY_TOKEN_MAC_LEN];
    const char *after_signed;
    apr_size_t after_signed_len;
    const char *format;         /* $format as given; NULL: absent */
    int format_json;            /* $format names JSON (else XML) */
    int metadata;               /* $format's odata.metadata (ra_jw_metadata_e) */
    const char *alias_args;     /* the parameter aliases, encoded, for nextLink */
} ra_query_t;

/* What the request addresses decides which options it may carry. */
typedef enum {
    RA_QUERY_LIST,    /* every option */
    RA_QUERY_COUNT,   /* /$count: $filter */
    RA_QUERY_ENTITY,  /* one entity: $select, $format */
    RA_QUERY_SERVICE, /* the service root's resources: $format */
    RA_QUERY_NONE     /* writes and actions: none */
} ra_query_target_e;

/* Parses a raw (percent-encoded) query string, NULL for none. Custom options
 * (names without '$') are ignored, as OData allows; on beta a system
 * option's name without its '$' is that option, as Graph's beta takes it
 * (v1.0 refuses it, as Graph's v1.0 does). Parameter aliases (@name=value)
 * stand for a literal in $filter and for a property in $orderby; one used
 * without a value is an error. An unknown or unsupported system option, one
 * the target does not take, a repeated one, a syntax error (with its
 * position) or an unknown property is an error: returns 0 with *message a
 * Graph error message naming the option. */
int ra_query_parse(apr_pool_t *pool, ra_version_e version, ra_query_target_e target,
                   const char *args, ra_query_t *query, const char **message);

/* The same for the entity set set (the audit events take no $select). */
int ra_query_parse_set(apr_pool_t *pool, ra_entity_set_e set, ra_version_e version,
                       ra_query_target_e target, const char *args, ra_query_t *query,
                       const char **message);

/* The $skiptoken that continues after the row whose sort key values are
 * values (one per query->order entry): opaque base64url, bound to the
 * query's $filter and $orderby, and signed with key (HMAC-SHA256; the
 * database's own key, so every node of a deployment takes every other's
 * tokens, across restarts). ra_query_parse reads a token's position and
 * keeps its signature: ra_query_skiptoken_verify must accept it before
 * the position is used. */
const char *ra_query_skiptoken(apr_pool_t *pool, const ra_query_t *query,
                               const ra_key_value_t *values, const char *key);

#define RA_QUERY_INVALID_SKIPTOKEN "Invalid $skiptoken: use the @odata.nextLink of the " \
    "previous page unchanged, with the same $filter and $orderby."

/* The id of the row a $skiptoken continues after (the id is always a sort
 * key); NULL without a token. */
const char *ra_query_after_id(const ra_query_t *query);

/* 1 when the query has no $skiptoken or key signed it; else 0 (answered
 * 400 like any invalid $skiptoken). Compares in constant time. */
int ra_query_skiptoken_verify(const ra_query_t *query, const char *key);

/* The query string of the next page: the query's options and a $skiptoken
 * (no $skip: the token already continues after it), percent-encoded. */
const char *ra_query_next_args(apr_pool_t *pool, const ra_query_t *query,
                               const char *skiptoken);

#endif
