/* OData system query options, parsed into ra_query_t. $filter is parsed by
 * recursive descent into a tree, with limits on length, nodes and depth so
 * that hostile input stays cheap; every literal is type-checked against the
 * property it is compared with. */
#include "ra_query.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_encode.h>
#include <apr_escape.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "ra_odata.h"

/* ------------------------------------------------------------ the string */

/* jansson refuses a string that is not UTF-8: the values end up in JSON
 * bodies and in text columns, which would refuse them too. */
static int utf8_valid(const char *s, size_t len)
{
    json_t *probe = json_stringn(s, len);
    json_decref(probe);
    return probe != NULL;
}

/* Percent-decodes s[0..len); '+' is a space (form encoding, which many
 * clients use). NULL when a %-sequence is malformed, a NUL appears, or the
 * result is not UTF-8. */
static const char *url_decode(apr_pool_t *pool, const char *s, size_t len)
{
    /* apr_punescape_url reads to a NUL: it decodes a copy of these bytes
     * alone. It refuses a malformed escape and a decoded NUL itself. */
    const char *out = apr_punescape_url(pool, apr_pstrmemdup(pool, s, len), NULL, NULL, 1);
    return out && utf8_valid(out, strlen(out)) ? out : NULL;
}

/* ----------------------------------------------------------- the options */

typedef enum {
    OPT_FILTER, OPT_ORDERBY, OPT_SELECT, OPT_TOP, OPT_SKIP, OPT_COUNT, OPT_SKIPTOKEN,
    OPT_FORMAT, OPT_COUNT_OF_OPTIONS
} option_e;

#define ON_LIST (1u << RA_QUERY_LIST)
#define ON_COUNT (1u << RA_QUERY_COUNT)
#define ON_ENTITY (1u << RA_QUERY_ENTITY)
#define ON_SERVICE (1u << RA_QUERY_SERVICE)

static const struct {
    const char *name;
    unsigned targets;
} options[OPT_COUNT_OF_OPTIONS] = {
    [OPT_FILTER] = { "$filter", ON_LIST | ON_COUNT },
    [OPT_ORDERBY] = { "$orderby", ON_LIST },
    [OPT_SELECT] = { "$select", ON_LIST | ON_ENTITY },
    [OPT_TOP] = { "$top", ON_LIST },
    [OPT_SKIP] = { "$skip", ON_LIST },
    [OPT_COUNT] = { "$count", ON_LIST },
    [OPT_SKIPTOKEN] = { "$skiptoken", ON_LIST },
    [OPT_FORMAT] = { "$format", ON_LIST | ON_ENTITY | ON_SERVICE },
};

/* System query options OData defines that this entity set does not serve. */
static const struct {
    const char *name;
    const char *why;
} unsupported[] = {
    { "$expand", "remoteAssistancePartner has no navigation properties" },
    { "$search", "remoteAssistancePartners cannot be searched; use $filter" },
    { "$apply", "data aggregation is not supported" },
    { "$compute", "computed properties are not supported" },
    { "$levels", "remoteAssistancePartner has no navigation properties" },
    { "$deltatoken", "delta queries are not supported" },
    { "$index", "it applies to collections of values only" },
    { "$schemaversion", "schema versions are not supported" },
    { "$id", "it applies to entity references only" },
};

static const char *target_name(ra_query_target_e target)
{
    switch (target) {
    case RA_QUERY_COUNT: return "$count";
    case RA_QUERY_ENTITY: return "a single remoteAssistancePartner";
    case RA_QUERY_SERVICE: return "this resource";
    case RA_QUERY_LIST: return "the collection";
    case RA_QUERY_NONE: break;
    }
    return "this request";
}

/* ------------------------------------------------------------- $filter */

typedef enum {
    TOK_END, TOK_LPAREN, TOK_RPAREN, TOK_COMMA, TOK_WORD, TOK_STRING, TOK_DATETIME,
    TOK_ENUM, TOK_NUMBER, TOK_ALIAS, TOK_GUID
} token_e;

typedef struct {
    token_e kind;
    const char *start;   /* in the source, for positions */
    size_t len;
    const char *text;    /* TOK_STRING, TOK_ENUM: the unescaped value */
    size_t qualifier_len;/* TOK_ENUM: the type name's length, at start */
} token_t;

typedef struct {
    apr_pool_t *pool;
    ra_version_e version;
    ra_entity_set_e set;
    const char *source;
    const char *p;
    token_t tok;
    int nodes;
    int depth;
    const char *error;
    apr_hash_t *aliases;  /* "@name" -> its decoded value */
} parser_t;

const char *ra_query_prop_name(ra_entity_set_e set, int prop)
{
    return set == RA_ENTITY_SET_AUDIT ? ra_audit_prop_name(prop) : ra_prop_name((ra_prop_e)prop);
}

ra_prop_kind_e ra_query_prop_kind(ra_entity_set_e set, int prop)
{
    return set == RA_ENTITY_SET_AUDIT ? ra_audit_prop_kind(prop) : ra_prop_kind((ra_prop_e)prop);
}

int ra_query_prop_nullable(ra_entity_set_e set, int prop)
{
    /* no audit event property a query names is ever null */
    return set == RA_ENTITY_SET_AUDIT ? 0 : ra_prop_nullable((ra_prop_e)prop);
}

/* The property of set called name[0..len) in version, or -1. */
static int prop_find(ra_entity_set_e set, ra_version_e version, const char *name, size_t len)
{
    return set == RA_ENTITY_SET_AUDIT ? ra_audit_prop_find(name, len)
                                      : ra_prop_find(version, name, len);
}

static const char *set_type(ra_entity_set_e set)
{
    return set == RA_ENTITY_SET_AUDIT ? RA_AUDIT_TYPE : RA_ENTITY_TYPE;
}

/* The string properties the string functions take, for their errors. */
static const char *set_strings(ra_entity_set_e set)
{
    return set == RA_ENTITY_SET_AUDIT
           ? "id, category, activityType or activityOperationType"
           : "id, displayName or onboardingUrl";
}

static int fail_at(parser_t *ps, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(parser_t *ps, const char *where, const char *fmt, ...)
{
    va_list ap;
    if (!ps->error) {
        va_start(ap, fmt);
        ps->error = apr_psprintf(ps->pool, "Invalid $filter at position %d: %s.",
                                 (int)(where - ps->source) + 1,
                                 apr_pvsprintf(ps->pool, fmt, ap));
        va_end(ap);
    }
    return 0;
}

/* A token's text for messages, shortened. */
static const char *shown(parser_t *ps, const token_t *tok)
{
    if (tok->kind == TOK_END) {
        return "the end";
    }
    return apr_psprintf(ps->pool, "'%.*s'", (int)(tok->len > 40 ? 40 : tok->len), tok->start);
}

/* A string literal starting at the quote p (ra_entity_string_literal). */
static int lex_string(parser_t *ps, const char *p, const char **end, const char **text)
{
    *text = ra_entity_string_literal(ps->pool, p, end);
    return *text ? 1 : fail_at(ps, ps->tok.start, "the string literal is not closed");
}

#define IDENTIFIER_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"

/* A GUID literal at p: OData's guidValue, unquoted (5d0b6c1e-3f2a-...), not
 * followed by more of a word or a number. Before the numbers and the words,
 * which a GUID may begin like. */
static int guid_literal_at(const char *p)
{
    return ra_odata_guid_at(p) && !(p[36] && strchr(IDENTIFIER_CHARS "-.:", p[36]));
}

static int next(parser_t *ps)
{
    const char *p = ps->p;
    token_t *tok = &ps->tok;

    while (*p == ' ' || *p == '\t') {
        p++;
    }
    memset(tok, 0, sizeof(*tok));
    tok->start = p;
    if (*p == '\0') {
        tok->kind = TOK_END;
    }
    else if (*p == '(' || *p == ')' || *p == ',') {
        tok->kind = *p == '(' ? TOK_LPAREN : *p == ')' ? TOK_RPAREN : TOK_COMMA;
        p++;
    }
    else if (*p == '\'') {
        tok->kind = TOK_STRING;
        if (!lex_string(ps, p, &p, &tok->text)) {
            return 0;
        }
    }
    else if (guid_literal_at(p)) {
        tok->kind = TOK_GUID;
        p += 36;
    }
    else if (apr_isdigit(*p) || (*p == '-' && apr_isdigit(p[1]))) {
        size_t n = 1 + strspn(p + 1, "0123456789:.-+TZ");
        tok->kind = memchr(p, 'T', n) ? TOK_DATETIME : TOK_NUMBER;
        p += n;
    }
    else if (*p == '@' && (apr_isalpha(p[1]) || p[1] == '_')) {
        tok->kind = TOK_ALIAS;
        p += 1 + strspn(p + 1, IDENTIFIER_CHARS);
    }
    else if (apr_isalpha(*p) || *p == '_') {
        p += strspn(p, IDENTIFIER_CHARS ".");
        tok->kind = TOK_WORD;
        if (*p == '\'') { /* a qualified enum literal: Namespace.Type'member' */
            tok->kind = TOK_ENUM;
            tok->qualifier_len = (size_t)(p - tok->start);
            if (!lex_string(ps, p, &p, &tok->text)) {
                return 0;
            }
        }
    }
    else {
        return fail_at(ps, p, "unexpected character '%c'", *p);
    }
    tok->len = (size_t)(p - tok->start);
    ps->p = p;
    return 1;
}

static int word_is(const token_t *tok, const char *word)
{
    return tok->kind == TOK_WORD && tok->len == strlen(word)
           && !strncmp(tok->start, word, tok->len);
}

static ra_qnode_t *new_node(parser_t *ps, ra_qnode_kind_e kind)
{
    if (++ps->nodes > RA_QUERY_FILTER_MAX_NODES) {
        fail_at(ps, ps->tok.start, "the filter has more than %d terms",
                RA_QUERY_FILTER_MAX_NODES);
        return NULL;
    }
    ra_qnode_t *node = apr_pcalloc(ps->pool, sizeof(*node));
    node->kind = kind;
    return node;
}

static const char *const compare_words[] = { [RA_Q_EQ] = "eq", [RA_Q_NE] = "ne",
                                             [RA_Q_GT] = "gt", [RA_Q_GE] = "ge",
                                             [RA_Q_LT] = "lt", [RA_Q_LE] = "le" };
static const char *const function_words[] = { [RA_Q_STARTSWITH] = "startswith",
                                              [RA_Q_ENDSWITH] = "endswith",
                                              [RA_Q_CONTAINS] = "contains" };
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

static int find_word(const token_t *tok, const char *const *words, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (word_is(tok, words[i])) {
            return (int)i;
        }
    }
    return -1;
}

/* One side of a comparison. */
typedef struct {
    token_t tok;
    const char *where;  /* in the source, for positions: an alias's name */
    int prop;     /* >= 0: a property */
    int is_null;
} operand_t;

/* The literal the alias token at ps->tok stands for, into *tok: its value
 * must be one literal (OData lets it be any expression; a literal is what
 * clients send). */
static int alias_literal(parser_t *ps, token_t *tok)
{
    const char *name = apr_pstrmemdup(ps->pool, ps->tok.start, ps->tok.len);
    const char *value = ps->aliases ? apr_hash_get(ps->aliases, name, APR_HASH_KEY_STRING)
                                    : NULL;
    parser_t sub = { ps->pool, ps->version, ps->set, value, value, { 0 }, 0, 0, NULL, NULL };

    if (!value || !*value) {
        return fail_at(ps, ps->tok.start, "the parameter alias '%s' has no value", name);
    }
    if (!next(&sub) || sub.tok.kind == TOK_END || sub.tok.kind == TOK_LPAREN
        || sub.tok.kind == TOK_RPAREN || sub.tok.kind == TOK_COMMA
        || sub.tok.kind == TOK_ALIAS
        || (sub.tok.kind == TOK_WORD && !word_is(&sub.tok, "null")
            && !word_is(&sub.tok, "true") && !word_is(&sub.tok, "false"))) {
        return fail_at(ps, ps->tok.start, "the value of the parameter alias '%s' is not a "
                       "literal", name);
    }
    *tok = sub.tok;
    if (!next(&sub) || sub.tok.kind != TOK_END) {
        return fail_at(ps, ps->tok.start, "the value of the parameter alias '%s' is not a "
                       "single literal", name);
    }
    return 1;
}

static int operand(parser_t *ps, operand_t *out)
{
    out->tok = ps->tok;
    out->where = ps->tok.start;
    out->prop = -1;
    out->is_null = 0;
    if (ps->tok.kind == TOK_ALIAS) {
        if (!alias_literal(ps, &out->tok)) {
            return 0;
        }
        out->is_null = word_is(&out->tok, "null");
        return next(ps);
    }
    switch (ps->tok.kind) {
    case TOK_WORD:
        if (word_is(&ps->tok, "null")) {
            out->is_null = 1;
        }
        else if (!word_is(&ps->tok, "true") && !word_is(&ps->tok, "false")) {
            out->prop = prop_find(ps->set, ps->version, ps->tok.start, ps->tok.len);
            if (out->prop < 0) {
                return fail_at(ps, ps->tok.start, "'%.*s' is not a property of %s",
                               (int)ps->tok.len, ps->tok.start, set_type(ps->set));
            }
        }
        break;
    case TOK_STRING: case TOK_DATETIME: case TOK_ENUM: case TOK_NUMBER: case TOK_GUID:
        break;
    default:
        return fail_at(ps, ps->tok.start, "expected a property or a literal, found %s",
                       shown(ps, &ps->tok));
    }
    return next(ps);
}

/* OData's names of the comparison operators (Microsoft.OData's
 * BinaryOperatorKind), which its type errors name. */
static const char *const operator_kinds[] = { [RA_Q_EQ] = "Equal", [RA_Q_NE] = "NotEqual",
                                              [RA_Q_GT] = "GreaterThan",
                                              [RA_Q_GE] = "GreaterThanOrEqual",
                                              [RA_Q_LT] = "LessThan",
                                              [RA_Q_LE] = "LessThanOrEqual" };

/* Where a literal meets a property of another type. */
typedef struct {
    const char *operator_kind;  /* "Equal", ...; "In" for an in list */
    int literal_left;           /* the literal is the left operand */
} comparison_t;

/* Graph's (Microsoft.OData's) 400 for an Edm.Guid and an Edm.String
 * compared, the operands' types in the order they were written. */
static int incompatible(parser_t *ps, const operand_t *lit, const comparison_t *how,
                        const char *property_type, const char *literal_type)
{
    return fail_at(ps, lit->where, "A binary operator with incompatible types was detected. "
                   "Found operand types '%s' and '%s' for operator kind '%s'",
                   how->literal_left ? literal_type : property_type,
                   how->literal_left ? property_type : literal_type, how->operator_kind);
}

/* Checks literal against the property's type and fills node. */
static int typed_literal(parser_t *ps, ra_qnode_t *node, const operand_t *lit,
                         const comparison_t *how)
{
    const char *name = ra_query_prop_name(ps->set, node->prop);
    ra_prop_kind_e kind = ra_query_prop_kind(ps->set, node->prop);

    if (lit->is_null) {
        if (node->op != RA_Q_EQ && node->op != RA_Q_NE) {
            return fail_at(ps, lit->where, "null can only be compared with eq or ne");
        }
        node->text = NULL;
        return 1;
    }
    switch (kind) {
    case RA_KIND_ID:
    case RA_KIND_STRING:
        if (lit->tok.kind == TOK_GUID) {
            return incompatible(ps, lit, how, "Edm.String", "Edm.Guid");
        }
        if (lit->tok.kind != TOK_STRING) {
            return fail_at(ps, lit->where, "%s is a string: compare it with a "
                           "string literal such as 'text'", name);
        }
        node->text = lit->tok.text;
        return 1;
    case RA_KIND_STATUS: /* ordered by member value (ra_sql.c), so every operator */
        if (lit->tok.kind == TOK_ENUM
            && (lit->tok.qualifier_len != strlen(RA_ENTITY_STATUS_TYPE)
                || strncmp(lit->tok.start, RA_ENTITY_STATUS_TYPE, lit->tok.qualifier_len))) {
            return fail_at(ps, lit->where, "%s is of type " RA_ENTITY_STATUS_TYPE, name);
        }
        if ((lit->tok.kind != TOK_STRING && lit->tok.kind != TOK_ENUM)
            || !ra_entity_status_valid(lit->tok.text)) {
            return fail_at(ps, lit->where, "%s is one of 'notOnboarded', "
                           "'onboarding' or 'onboarded'", name);
        }
        node->text = lit->tok.text;
        return 1;
    case RA_KIND_DATETIME:
        node->text = apr_pstrmemdup(ps->pool, lit->tok.start, lit->tok.len);
        if (lit->tok.kind != TOK_DATETIME || !ra_entity_datetime_parse(node->text, &node->ticks)) {
            return fail_at(ps, lit->where, "%s is a DateTimeOffset: compare it with "
                           "a literal such as 2016-12-31T23:58:36Z (unquoted)", name);
        }
        return 1;
    case RA_KIND_GUID:
        /* as OData's URL conventions write it: a quoted one is an Edm.String */
        if (lit->tok.kind == TOK_STRING) {
            return incompatible(ps, lit, how, "Edm.Guid", "Edm.String");
        }
        if (lit->tok.kind != TOK_GUID) {
            return fail_at(ps, lit->where, "%s is a Guid: compare it with a literal such as "
                           "5d0b6c1e-3f2a-4e8b-9c47-1a2b3c4d5e6f (unquoted)", name);
        }
        node->text = ra_odata_lower(ps->pool, lit->tok.start, 36);
        return 1;
    }
    return 0;
}

static int flipped(int op)
{
    switch (op) {
    case RA_Q_GT: return RA_Q_LT;
    case RA_Q_GE: return RA_Q_LE;
    case RA_Q_LT: return RA_Q_GT;
    case RA_Q_LE: return RA_Q_GE;
    default: return op;
    }
}

/* property in (literal, ...): OData 4.01's shorthand for eq ... or eq ...,
 * which it becomes, so SQL and null handling are eq's. */
static ra_qnode_t *in_list(parser_t *ps, const operand_t *left)
{
    ra_qnode_t *any = NULL;
    operand_t item;

    if (left->prop < 0) {
        fail_at(ps, left->where, "in needs a property on its left");
        return NULL;
    }
    if (!next(ps)) {
        return NULL;
    }
    if (ps->tok.kind != TOK_LPAREN) {
        fail_at(ps, ps->tok.start, "expected '(' after in, found %s", shown(ps, &ps->tok));
        return NULL;
    }
    do {
        ra_qnode_t *eq;
        if (!next(ps) || !operand(ps, &item)) {
            return NULL;
        }
        if (item.prop >= 0) {
            fail_at(ps, item.where, "the list of in holds literals only");
            return NULL;
        }
        if (!(eq = new_node(ps, RA_QNODE_COMPARE))) {
            return NULL;
        }
        eq->prop = (ra_prop_e)left->prop;
        eq->op = RA_Q_EQ;
        if (!typed_literal(ps, eq, &item, &(comparison_t){ "In", 0 })) {
            return NULL;
        }
        if (any) {
            ra_qnode_t *either = new_node(ps, RA_QNODE_OR);
            if (!either) {
                return NULL;
            }
            either->left = any;
            either->right = eq;
            eq = either;
        }
        any = eq;
    } while (ps->tok.kind == TOK_COMMA);
    if (ps->tok.kind != TOK_RPAREN) {
        fail_at(ps, ps->tok.start, "expected ',' or ')' in the list of in, found %s",
                shown(ps, &ps->tok));
        return NULL;
    }
    return next(ps) ? any : NULL;
}

static ra_qnode_t *comparison(parser_t *ps)
{
    operand_t left, right;
    ra_qnode_t *node;
    int op;

    if (!operand(ps, &left)) {
        return NULL;
    }
    if (word_is(&ps->tok, "in")) {
        return in_list(ps, &left);
    }
    op = find_word(&ps->tok, compare_words, COUNT_OF(compare_words));
    if (op < 0) {
        fail_at(ps, ps->tok.start, "expected a comparison operator (eq, ne, gt, ge, lt, "
                "le, in), found %s", shown(ps, &ps->tok));
        return NULL;
    }
    if (!next(ps) || !operand(ps, &right)) {
        return NULL;
    }
    if ((left.prop >= 0) == (right.prop >= 0)) {
        fail_at(ps, left.where, left.prop >= 0
                ? "comparing two properties is not supported"
                : "a comparison needs a property on one side");
        return NULL;
    }
    if (!(node = new_node(ps, RA_QNODE_COMPARE))) {
        return NULL;
    }
    node->prop = (ra_prop_e)(left.prop >= 0 ? left.prop : right.prop);
    node->op = left.prop >= 0 ? op : flipped(op);
    return typed_literal(ps, node, left.prop >= 0 ? &right : &left,
                         &(comparison_t){ operator_kinds[op], left.prop < 0 }) ? node : NULL;
}

static ra_qnode_t *function_call(parser_t *ps, int fn)
{
    ra_qnode_t *node = new_node(ps, RA_QNODE_FUNCTION);
    int prop;

    if (!node || !next(ps) || !next(ps)) { /* the name, then '(' */
        return NULL;
    }
    prop = ps->tok.kind == TOK_WORD
           ? prop_find(ps->set, ps->version, ps->tok.start, ps->tok.len) : -1;
    if (prop < 0 || (ra_query_prop_kind(ps->set, prop) != RA_KIND_STRING
                     && ra_query_prop_kind(ps->set, prop) != RA_KIND_ID)) {
        fail_at(ps, ps->tok.start, "%s takes a string property (%s) first",
                function_words[fn], set_strings(ps->set));
        return NULL;
    }
    node->prop = (ra_prop_e)prop;
    node->op = fn;
    if (!next(ps)) {
        return NULL;
    }
    if (ps->tok.kind != TOK_COMMA) {
        fail_at(ps, ps->tok.start, "expected ',' in %s, found %s", function_words[fn],
                shown(ps, &ps->tok));
        return NULL;
    }
    if (!next(ps)) {
        return NULL;
    }
    token_t argument = ps->tok;
    if (ps->tok.kind == TOK_ALIAS && !alias_literal(ps, &argument)) {
        return NULL;
    }
    if (argument.kind != TOK_STRING) {
        fail_at(ps, ps->tok.start, "%s takes a string literal second", function_words[fn]);
        return NULL;
    }
    node->text = argument.text;
    if (!next(ps)) {
        return NULL;
    }
    if (ps->tok.kind != TOK_RPAREN) {
        fail_at(ps, ps->tok.start, "expected ')' after the arguments of %s, found %s",
                function_words[fn], shown(ps, &ps->tok));
        return NULL;
    }
    return next(ps) ? node : NULL;
}

static ra_qnode_t *or_expression(parser_t *ps);

static int enter(parser_t *ps)
{
    if (++ps->depth > RA_QUERY_FILTER_MAX_DEPTH) {
        return fail_at(ps, ps->tok.start, "the filter nests deeper than %d levels",
                       RA_QUERY_FILTER_MAX_DEPTH);
    }
    return 1;
}

static ra_qnode_t *primary(parser_t *ps)
{
    if (ps->tok.kind == TOK_LPAREN) {
        ra_qnode_t *inner;
        if (!enter(ps) || !next(ps) || !(inner = or_expression(ps))) {
            return NULL;
        }
        if (ps->tok.kind != TOK_RPAREN) {
            fail_at(ps, ps->tok.start, "expected ')', found %s", shown(ps, &ps->tok));
            return NULL;
        }
        ps->depth--;
        return next(ps) ? inner : NULL;
    }
    int fn = find_word(&ps->tok, function_words, COUNT_OF(function_words));
    if (fn >= 0) {
        /* a function only when a '(' follows: else it names a property */
        const char *after = ps->p;
        while (*after == ' ' || *after == '\t') {
            after++;
        }
        if (*after == '(') {
            return function_call(ps, fn);
        }
    }
    return comparison(ps);
}

static ra_qnode_t *not_expression(parser_t *ps)
{
    if (word_is(&ps->tok, "not")) {
        ra_qnode_t *node = new_node(ps, RA_QNODE_NOT);
        if (!node || !enter(ps) || !next(ps) || !(node->left = not_expression(ps))) {
            return NULL;
        }
        ps->depth--;
        return node;
    }
    return primary(ps);
}

/* left (word right)*, for "and" over not-expressions and "or" over ands */
static ra_qnode_t *binary(parser_t *ps, const char *word, ra_qnode_kind_e kind,
                          ra_qnode_t *(*operand_fn)(parser_t *))
{
    ra_qnode_t *left = operand_fn(ps);
    while (left && word_is(&ps->tok, word)) {
        ra_qnode_t *node = new_node(ps, kind);
        if (!node || !next(ps) || !(node->right = operand_fn(ps))) {
            return NULL;
        }
        node->left = left;
        left = node;
    }
    return left;
}

static ra_qnode_t *and_expression(parser_t *ps)
{
    return binary(ps, "and", RA_QNODE_AND, not_expression);
}

static ra_qnode_t *or_expression(parser_t *ps)
{
    return binary(ps, "or", RA_QNODE_OR, and_expression);
}

static int parse_filter(apr_pool_t *pool, ra_version_e version, apr_hash_t *aliases,
                        const char *text, ra_query_t *query, const char **message)
{
    parser_t ps = { pool, version, query->set, text, text, { 0 }, 0, 0, NULL, aliases };

    if (strlen(text) > RA_QUERY_FILTER_MAX_LENGTH) {
        *message = apr_psprintf(pool, "Invalid $filter: longer than %d characters.",
                                RA_QUERY_FILTER_MAX_LENGTH);
        return 0;
    }
    if (next(&ps)) {
        query->filter = or_expression(&ps);
        if (query->filter && ps.tok.kind != TOK_END) {
            fail_at(&ps, ps.tok.start, "unexpected %s", shown(&ps, &ps.tok));
        }
    }
    if (ps.error) {
        *message = ps.error;
        return 0;
    }
    query->filter_text = text;
    return 1;
}

/* ------------------------------------------------------ lists, numbers */

static char *trimmed(apr_pool_t *pool, const char *s, size_t len)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++, len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }
    return apr_pstrmemdup(pool, s, len);
}

/* Calls item() for each comma-separated, trimmed item of text. */
static int each_item(apr_pool_t *pool, const char *text,
                     int (*item)(void *, const char *), void *baton)
{
    const char *p = text;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (!item(baton, trimmed(pool, p, len))) {
            return 0;
        }
        if (p[len] == '\0') {
            return 1;
        }
        p += len + 1;
    }
}

typedef struct {
    apr_pool_t *pool;
    ra_version_e version;
    ra_query_t *query;
    const char *message;
    apr_hash_t *aliases;
} list_baton_t;

static int unknown_in(list_baton_t *b, const char *option, const char *name)
{
    b->message = apr_psprintf(b->pool, "Invalid %s: '%s' is not a property of %s.", option,
                              name, set_type(b->query->set));
    return 0;
}

static int order_item(void *baton, const char *item)
{
    list_baton_t *b = baton;
    ra_query_t *q = b->query;
    size_t len = strcspn(item, " \t");
    const char *direction = item + len + strspn(item + len, " \t");
    int prop;

    if (!*item) {
        b->message = "Invalid $orderby: an empty item.";
        return 0;
    }
    if (*item == '@') { /* a parameter alias standing for the property */
        const char *name = apr_pstrmemdup(b->pool, item, len);
        const char *value = apr_hash_get(b->aliases, name, APR_HASH_KEY_STRING);
        if (!value || !*(value = trimmed(b->pool, value, strlen(value)))) {
            b->message = apr_psprintf(b->pool, "Invalid $orderby: the parameter alias '%s' "
                                      "has no value.", name);
            return 0;
        }
        item = value;
        len = strlen(value);
    }
    prop = prop_find(q->set, b->version, item, len);
    if (prop < 0) {
        return unknown_in(b, "$orderby", apr_pstrmemdup(b->pool, item, len));
    }
    if (*direction && strcmp(direction, "asc") && strcmp(direction, "desc")) {
        b->message = apr_psprintf(b->pool, "Invalid $orderby: '%s' is not asc or desc.",
                                  direction);
        return 0;
    }
    for (int i = 0; i < q->order_count; i++) {
        if (q->order[i].prop == (ra_prop_e)prop) {
            b->message = apr_psprintf(b->pool, "Invalid $orderby: '%s' appears twice.",
                                      ra_query_prop_name(q->set, prop));
            return 0;
        }
    }
    q->order[q->order_count].prop = (ra_prop_e)prop;
    q->order[q->order_count].descending = !strcmp(direction, "desc");
    q->order_count++;
    return 1;
}

static int select_item(void *baton, const char *item)
{
    list_baton_t *b = baton;
    int prop;

    if (b->query->set == RA_ENTITY_SET_AUDIT) {
        b->message = "The query option '$select' is not supported on auditEvents.";
        return 0;
    }
    if (!strcmp(item, "*")) {
        b->query->select = (1u << RA_PROP_COUNT) - 1;
        return 1;
    }
    prop = ra_prop_find(b->version, item, strlen(item));
    if (prop < 0) {
        if (!*item) {
            b->message = "Invalid $select: an empty item.";
            return 0;
        }
        return unknown_in(b, "$select", item);
    }
    b->query->select |= RA_PROP_BIT(prop);
    return 1;
}

static int parse_count_value(apr_pool_t *pool, const char *option, const char *text,
                             apr_int64_t *value, const char **message)
{
    size_t len = strlen(text);
    if (len == 0 || len > 10 || strspn(text, "0123456789") != len
        || (*value = apr_atoi64(text)) > RA_QUERY_TOP_MAX) {
        *message = apr_psprintf(pool, "Invalid %s: '%s' is not a number from 0 to %"
                                APR_INT64_T_FMT ".", option, text, RA_QUERY_TOP_MAX);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ skiptoken */

/* A digest of what a $skiptoken's position depends on, so a token is not
 * reused with another $filter or $orderby. Not a security measure: the
 * tenant never comes from the token. */
static const char *query_shape(apr_pool_t *pool, const ra_query_t *q)
{
    const char *shape = apr_psprintf(pool, "%d\n%s", (int)q->set,
                                     q->filter_text ? q->filter_text : "");
    for (int i = 0; i < q->order_count; i++) {
        shape = apr_psprintf(pool, "%s\n%d%c", shape, (int)q->order[i].prop,
                             q->order[i].descending ? 'd' : 'a');
    }
    apr_ssize_t len = (apr_ssize_t)strlen(shape);
    return apr_psprintf(pool, "%08x", apr_hashfunc_default(shape, &len));
}

/* OpenSSL 3's one-shot HMAC() fetches the MAC algorithm from the providers
 * on every call: 1.9 µs a MAC on the bench's host, against 0.9 µs with it
 * fetched once (bench/NOTES.md, "The signed $skiptoken's cost"; the digest
 * is still looked up per MAC, as a context keyed once and duplicated per MAC
 * would avoid for another 0.3 µs). So it is fetched once per process, at the
 * first token; the fetched algorithm is immutable and OpenSSL lets threads
 * share it. Only children make tokens, so a module unloaded at a restart
 * leaves no fetch behind in the parent. */
static EVP_MAC *hmac_algorithm;
static CRYPTO_ONCE hmac_fetched = CRYPTO_ONCE_STATIC_INIT;

static void fetch_hmac(void)
{
    hmac_algorithm = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
}

/* HMAC-SHA256 of data with key, truncated to RA_QUERY_TOKEN_MAC_LEN; 0 (mac
 * zeroed, which no token made by a working MAC carries) when OpenSSL fails,
 * its error queue cleared so that no later OpenSSL caller on this thread
 * (mod_ssl) reads the error as its own. Its output is HMAC()'s: the unit
 * tests sign tokens with HMAC() and verify them here. */
static int token_mac(const char *key, const char *data, apr_size_t len,
                     unsigned char mac[RA_QUERY_TOKEN_MAC_LEN])
{
    unsigned char full[EVP_MAX_MD_SIZE];
    size_t full_len = 0;
    char digest[] = OSSL_DIGEST_NAME_SHA2_256;
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                            OSSL_PARAM_construct_end() };
    EVP_MAC_CTX *ctx = NULL;
    int ok = CRYPTO_THREAD_run_once(&hmac_fetched, fetch_hmac) && hmac_algorithm
             && (ctx = EVP_MAC_CTX_new(hmac_algorithm))
             && EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params)
             && EVP_MAC_update(ctx, (const unsigned char *)data, len)
             && EVP_MAC_final(ctx, full, &full_len, sizeof(full))
             && full_len >= RA_QUERY_TOKEN_MAC_LEN;
    EVP_MAC_CTX_free(ctx);
    if (ok) {
        memcpy(mac, full, RA_QUERY_TOKEN_MAC_LEN);
    }
    else {
        memset(mac, 0, RA_QUERY_TOKEN_MAC_LEN);
        ERR_clear_error();
    }
    OPENSSL_cleanse(full, sizeof(full));
    return ok;
}

/* One sort key's value in a token, and its length there. */
static json_t *token_value(const ra_query_t *query, int i, const ra_key_value_t *value,
                           apr_size_t *len)
{
    json_t *v = ra_query_prop_kind(query->set, query->order[i].prop) == RA_KIND_DATETIME
                ? json_integer(value->ticks)
                : value->text ? json_string(value->text) : json_null();
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    *len = text ? strlen(text) : 0;
    free(text);
    return v;
}

/* The bytes of at most RA_QUERY_TOKEN_MAX base64url characters. */
#define TOKEN_MAX_BYTES (RA_QUERY_TOKEN_MAX / 4 * 3)

/* What a token of the id alone signs: the query's shape and the id (its
 * text holds only the id; a token of keys is JSON, which starts with '[',
 * a character no id has). */
static const char *id_token_signed(apr_pool_t *pool, const ra_query_t *query, const char *id)
{
    return apr_pstrcat(pool, query_shape(pool, query), "\n", id, NULL);
}

const char *ra_query_skiptoken(apr_pool_t *pool, const ra_query_t *query,
                               const ra_key_value_t *values, const char *key)
{
    json_t *doc = json_array();
    apr_size_t used = 0;
    const char *id = NULL;
    json_array_append_new(doc, json_string(query_shape(pool, query)));
    /* the id always (the row to re-read), the other keys while they fit */
    for (int i = 0; i < query->order_count; i++) {
        apr_size_t len;
        json_t *v = token_value(query, i, &values[i], &len);
        if (query->order[i].prop != RA_PROP_ID && used + len > RA_QUERY_TOKEN_INLINE) {
            json_decref(v);
            v = json_false();
        }
        else if (query->order[i].prop != RA_PROP_ID) {
            used += len;
        }
        else {
            id = values[i].text;
        }
        json_array_append_new(doc, v);
    }
    char *json = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    const char *text = apr_pstrdup(pool, json), *sign = text;
    free(json);
    if (RA_QUERY_TOKEN_MAC_LEN + strlen(text) > TOKEN_MAX_BYTES) {
        text = id;
        sign = id_token_signed(pool, query, id);
    }
    /* the signature, then the position it signs */
    apr_size_t len = strlen(text);
    char *token = apr_palloc(pool, RA_QUERY_TOKEN_MAC_LEN + len);
    /* should OpenSSL fail, the token carries a zero MAC and comes back a 400 */
    token_mac(key, sign, strlen(sign), (unsigned char *)token);
    memcpy(token + RA_QUERY_TOKEN_MAC_LEN, text, len);
    return apr_pencode_base64_binary(pool, (const unsigned char *)token,
                                     RA_QUERY_TOKEN_MAC_LEN + len, APR_ENCODE_BASE64URL, NULL);
}

const char *ra_query_after_id(const ra_query_t *query)
{
    for (int i = 0; query->after_set && i < query->order_count; i++) {
        if (query->order[i].prop == RA_PROP_ID) { /* RA_AUDIT_PROP_ID too */
            return query->after[i].text;
        }
    }
    return NULL;
}

int ra_query_skiptoken_verify(const ra_query_t *query, const char *key)
{
    unsigned char mac[RA_QUERY_TOKEN_MAC_LEN];
    if (!query->after_set) {
        return 1;
    }
    return token_mac(key, query->after_signed, query->after_signed_len, mac)
           && CRYPTO_memcmp(mac, query->after_mac, sizeof(mac)) == 0;
}

static int parse_skiptoken(apr_pool_t *pool, const char *text, ra_query_t *q,
                           const char **message)
{
    apr_size_t len = 0;
    const unsigned char *raw = apr_pdecode_base64_binary(pool, text, APR_ENCODE_STRING,
                                                         APR_ENCODE_BASE64URL, &len);
    /* one spelling only: base64url has others for the same bytes (the
     * unused low bits of the last character), and every changed character
     * of a token must be refused */
    int ok = raw && len > RA_QUERY_TOKEN_MAC_LEN
             && !strcmp(apr_pencode_base64_binary(pool, raw, len, APR_ENCODE_BASE64URL, NULL),
                        text);
    const char *payload = ok ? (const char *)raw + RA_QUERY_TOKEN_MAC_LEN : NULL;
    apr_size_t payload_len = ok ? len - RA_QUERY_TOKEN_MAC_LEN : 0;
    if (ok && *payload != '[') { /* the id alone: every other key is read again */
        const char *id = apr_pstrmemdup(pool, payload, payload_len);
        for (int i = 0; i < q->order_count; i++) {
            if (q->order[i].prop == RA_PROP_ID) {
                q->after[i].text = id;
            }
        }
        if (strlen(id) != payload_len || !ra_entity_id_valid(id)) {
            *message = RA_QUERY_INVALID_SKIPTOKEN;
            return 0;
        }
        memcpy(q->after_mac, raw, RA_QUERY_TOKEN_MAC_LEN);
        q->after_signed = id_token_signed(pool, q, id);
        q->after_signed_len = strlen(q->after_signed);
        q->after_reread = q->after_set = 1;
        return 1;
    }
    json_t *doc = ok ? json_loadb(payload, payload_len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    ok = json_is_array(doc) && json_array_size(doc) == (size_t)q->order_count + 1
         && json_is_string(json_array_get(doc, 0))
         && !strcmp(json_string_value(json_array_get(doc, 0)), query_shape(pool, q));

    for (int i = 0; ok && i < q->order_count; i++) {
        json_t *v = json_array_get(doc, (size_t)i + 1);
        if (json_is_false(v) && q->order[i].prop != RA_PROP_ID) {
            q->after_reread = 1; /* a key too long to keep: read from the id's row */
        }
        else if (q->order[i].prop == RA_PROP_ID) {
            ok = json_is_string(v) && ra_entity_id_valid(json_string_value(v));
            q->after[i].text = ok ? apr_pstrdup(pool, json_string_value(v)) : NULL;
        }
        else if (ra_query_prop_kind(q->set, q->order[i].prop) == RA_KIND_DATETIME) {
            ok = json_is_integer(v);
            q->after[i].ticks = json_integer_value(v);
        }
        else {
            ok = json_is_string(v) || (json_is_null(v)
                                          && ra_query_prop_nullable(q->set, q->order[i].prop));
            q->after[i].text = json_is_string(v) ? apr_pstrdup(pool, json_string_value(v))
                                                 : NULL;
        }
    }
    json_decref(doc);
    if (!ok) {
        *message = RA_QUERY_INVALID_SKIPTOKEN;
        return 0;
    }
    memcpy(q->after_mac, raw, RA_QUERY_TOKEN_MAC_LEN);
    q->after_signed = payload;
    q->after_signed_len = payload_len;
    q->after_set = 1;
    return 1;
}

/* --------------------------------------------------------------- parsing */

/* A system option's name as given: on beta, without its '$' too. */
static const char *system_name(apr_pool_t *pool, ra_version_e version, const char *name)
{
    if (name[0] == '$' || version != RA_VERSION_BETA) {
        return name;
    }
    const char *prefixed = apr_pstrcat(pool, "$", name, NULL);
    for (int i = 0; i < OPT_COUNT_OF_OPTIONS; i++) {
        if (!strcasecmp(prefixed, options[i].name)) {
            return prefixed;
        }
    }
    for (size_t i = 0; i < COUNT_OF(unsupported); i++) {
        if (!strcasecmp(prefixed, unsupported[i].name)) {
            return prefixed;
        }
    }
    return name;
}

/* Splits args into the system options' decoded values (raw[option]), as
 * sent (sent[option], still percent-encoded) and the parameter aliases, refusing unknown, unsupported, misplaced and
 * repeated ones. */
static int collect(apr_pool_t *pool, ra_version_e version, ra_query_target_e target,
                   const char *args, const char **raw, const char **sent,
                   apr_hash_t *aliases, apr_array_header_t *alias_names,
                   const char **message)
{
    const char *p = args;

    while (p && *p) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        size_t name_len = eq ? (size_t)(eq - p) : len;
        const char *name = url_decode(pool, p, name_len);
        const char *value = eq ? url_decode(pool, eq + 1, len - name_len - 1) : "";
        const char *next_item = p[len] ? p + len + 1 : NULL;

        if (!name || !value) {
            *message = "The query string is not valid: a malformed %-escape, a NUL byte "
                       "or text that is not UTF-8.";
            return 0;
        }
        p = next_item;
        name = system_name(pool, version, name);
        if (name[0] == '@') {
            if (apr_hash_get(aliases, name, APR_HASH_KEY_STRING)) {
                *message = apr_psprintf(pool, "The parameter alias '%.64s' is given more "
                                        "than once.", name);
                return 0;
            }
            apr_hash_set(aliases, name, APR_HASH_KEY_STRING, value);
            APR_ARRAY_PUSH(alias_names, const char *) = name;
            continue;
        }
        if (name[0] != '$') {
            for (int i = 0; i < OPT_COUNT_OF_OPTIONS; i++) {
                if (!strcasecmp(name, options[i].name + 1)) {
                    *message = apr_psprintf(pool, "The query option '%s' needs its '$' "
                                            "prefix: %s.", name, options[i].name);
                    return 0;
                }
            }
            continue; /* a custom query option: not ours to interpret */
        }
        int found = -1;
        for (int i = 0; i < OPT_COUNT_OF_OPTIONS && found < 0; i++) {
            found = strcasecmp(name, options[i].name) ? -1 : i;
        }
        if (found < 0) {
            for (size_t i = 0; i < COUNT_OF(unsupported); i++) {
                if (!strcasecmp(name, unsupported[i].name)) {
                    *message = apr_psprintf(pool, "The query option '%s' is not supported: "
                                            "%s.", unsupported[i].name, unsupported[i].why);
                    return 0;
                }
            }
            *message = apr_psprintf(pool, "'%.64s' is not an OData system query option.",
                                    name);
            return 0;
        }
        if (!(options[found].targets & (1u << target))) {
            *message = apr_psprintf(pool, "The query option '%s' is not allowed on %s.",
                                    options[found].name, target_name(target));
            return 0;
        }
        if (raw[found]) {
            *message = apr_psprintf(pool, "The query option '%s' is given more than once.",
                                    options[found].name);
            return 0;
        }
        raw[found] = value;
        sent[found] = eq ? apr_pstrmemdup(pool, eq + 1, len - name_len - 1) : "";
    }
    return 1;
}

static const char *option_pair(apr_pool_t *pool, const char *args, const char *name,
                               const char *value);

int ra_query_parse(apr_pool_t *pool, ra_version_e version, ra_query_target_e target,
                   const char *args, ra_query_t *query, const char **message)
{
    return ra_query_parse_set(pool, RA_ENTITY_SET_PARTNERS, version, target, args, query,
                              message);
}

int ra_query_parse_set(apr_pool_t *pool, ra_entity_set_e set, ra_version_e version,
                       ra_query_target_e target, const char *args, ra_query_t *query,
                       const char **message)
{
    const char *raw[OPT_COUNT_OF_OPTIONS] = { 0 }, *sent[OPT_COUNT_OF_OPTIONS] = { 0 };
    apr_hash_t *aliases = apr_hash_make(pool);
    list_baton_t baton = { pool, version, query, NULL, aliases };

    memset(query, 0, sizeof(*query));
    query->set = set;
    query->top = query->skip = -1;
    *message = NULL;
    apr_array_header_t *alias_names = apr_array_make(pool, 2, sizeof(const char *));
    if (!collect(pool, version, target, args, raw, sent, aliases, alias_names, message)) {
        return 0;
    }
    query->filter_sent = sent[OPT_FILTER];
    query->orderby_sent = sent[OPT_ORDERBY];
    query->select_sent = sent[OPT_SELECT];
    for (int i = 0; i < alias_names->nelts; i++) { /* for the next page's link */
        const char *name = APR_ARRAY_IDX(alias_names, i, const char *);
        query->alias_args = option_pair(pool, query->alias_args ? query->alias_args : "",
                                        name, apr_hash_get(aliases, name,
                                                           APR_HASH_KEY_STRING));
    }
    if (raw[OPT_FORMAT]) {
        ra_jw_metadata_e level;
        if (!ra_odata_format(pool, raw[OPT_FORMAT], &query->format_json, &level)) {
            *message = apr_psprintf(pool, "Invalid $format: '%.64s' is not json, xml or "
                                    "application/json;odata.metadata=none|minimal|full.",
                                    raw[OPT_FORMAT]);
            return 0;
        }
        query->format = raw[OPT_FORMAT];
        query->metadata = (int)level;
    }
    if (raw[OPT_FILTER]
        && !parse_filter(pool, version, aliases, raw[OPT_FILTER], query, message)) {
        return 0;
    }
    if (raw[OPT_ORDERBY] && !each_item(pool, raw[OPT_ORDERBY], order_item, &baton)) {
        *message = baton.message;
        return 0;
    }
    query->orderby_text = raw[OPT_ORDERBY];
    int has_id = 0;
    for (int i = 0; i < query->order_count; i++) {
        has_id |= query->order[i].prop == RA_PROP_ID; /* RA_AUDIT_PROP_ID too */
    }
    if (!has_id) { /* the tie-breaker that makes the order, and keyset paging, total */
        query->order[query->order_count].prop = RA_PROP_ID;
        query->order[query->order_count++].descending = 0;
    }
    if (raw[OPT_SELECT] && !each_item(pool, raw[OPT_SELECT], select_item, &baton)) {
        *message = baton.message;
        return 0;
    }
    query->select_text = raw[OPT_SELECT];
    if ((raw[OPT_TOP] && !parse_count_value(pool, "$top", raw[OPT_TOP], &query->top, message))
        || (raw[OPT_SKIP]
            && !parse_count_value(pool, "$skip", raw[OPT_SKIP], &query->skip, message))) {
        return 0;
    }
    if (raw[OPT_COUNT]) {
        if (strcmp(raw[OPT_COUNT], "true") && strcmp(raw[OPT_COUNT], "false")) {
            *message = apr_psprintf(pool, "Invalid $count: '%s' is not true or false.",
                                    raw[OPT_COUNT]);
            return 0;
        }
        query->count = !strcmp(raw[OPT_COUNT], "true");
    }
    return !raw[OPT_SKIPTOKEN] || parse_skiptoken(pool, raw[OPT_SKIPTOKEN], query, message);
}

static const char *option_pair(apr_pool_t *pool, const char *args, const char *name,
                               const char *value)
{
    /* both were decoded when the option was read: both are encoded again,
     * so that an alias name holding '%', '&' or a space reads back as itself
     * (names of plain letters, '$' and '@', all that a client normally
     * sends, stay as they are) */
    int plain = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789$@._-") == strlen(name);
    const char *pair = apr_pstrcat(pool, plain ? name : apr_pescape_urlencoded(pool, name),
                                   "=", apr_pescape_urlencoded(pool, value), NULL);
    return *args ? apr_pstrcat(pool, args, "&", pair, NULL) : pair;
}

/* An option as the request spelt it, escapes and all, so it is never
 * longer than it came (a quote sent raw stays one byte, where re-encoding
 * would make it three): a request that fitted httpd's request line has a
 * next page that fits too, but for the bounded $skiptoken. Only a byte no
 * request line carries raw (which a query parsed from elsewhere may hold)
 * is escaped; APR's escapers would escape quotes, parentheses and commas as
 * well. A query made without a request is escaped whole. */
static const char *option_echo(apr_pool_t *pool, const char *args, const char *name,
                               const char *sent, const char *text)
{
    static const char hex[] = "0123456789ABCDEF", unsafe[] = " \"<>\\^`{|}#";
    if (!sent) {
        return option_pair(pool, args, name, text);
    }
    char *out = apr_palloc(pool, 3 * strlen(sent) + 1), *o = out;
    for (const unsigned char *c = (const unsigned char *)sent; *c; c++) {
        if (*c < 0x20 || *c >= 0x7f || strchr(unsafe, *c)) {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
        else {
            *o++ = (char)*c;
        }
    }
    *o = '\0';
    return apr_pstrcat(pool, args, *args ? "&" : "", name, "=", out, NULL);
}

const char *ra_query_next_args(apr_pool_t *pool, const ra_query_t *query,
                               const char *skiptoken)
{
    const char *args = "";
    if (query->filter_text) {
        args = option_echo(pool, args, "$filter", query->filter_sent, query->filter_text);
    }
    if (query->orderby_text) {
        args = option_echo(pool, args, "$orderby", query->orderby_sent, query->orderby_text);
    }
    if (query->select_text) {
        args = option_echo(pool, args, "$select", query->select_sent, query->select_text);
    }
    if (query->top >= 0) {
        args = option_pair(pool, args, "$top", apr_psprintf(pool, "%" APR_INT64_T_FMT,
                                                            query->top));
    }
    if (query->count) {
        args = option_pair(pool, args, "$count", "true");
    }
    if (query->format) {
        args = option_pair(pool, args, "$format", query->format);
    }
    if (query->alias_args) {
        args = *args ? apr_pstrcat(pool, args, "&", query->alias_args, NULL) : query->alias_args;
    }
    return option_pair(pool, args, "$skiptoken", skiptoken);
}
