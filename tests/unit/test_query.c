/* ra_query: OData system query options. $filter's grammar (operators,
 * precedence, literals, type checks, errors with their positions, limits),
 * the other options' rules, where each option applies, the query string's
 * decoding, and the $skiptoken and nextLink round trip. */
#include <stdlib.h>
#include <string.h>

#include <apr_encode.h>
#include <apr_escape.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ra_odata.h"
#include "ra_query.h"
#include "suites.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define ALL_PROPS ((1u << RA_PROP_COUNT) - 1)
#define INVALID_SKIPTOKEN "Invalid $skiptoken: use the @odata.nextLink of the previous page " \
    "unchanged, with the same $filter and $orderby."

/* Parses args, which must be valid. */
static void parse_ok(ra_version_e version, ra_query_target_e target, const char *args,
                     ra_query_t *query)
{
    const char *message = "(unset)";
    int ok = ra_query_parse(pool, version, target, args, query, &message);
    ck_assert_msg(ok == 1, "%s refused: %s", args ? args : "(none)",
                  message ? message : "no message");
    ck_assert_ptr_null(message);
}

/* Parses args, which must be refused; returns the message. */
static const char *parse_error(ra_version_e version, ra_query_target_e target,
                               const char *args)
{
    ra_query_t query;
    const char *message = NULL;
    int ok = ra_query_parse(pool, version, target, args, &query, &message);
    ck_assert_msg(ok == 0, "%s accepted", args);
    ck_assert_msg(message != NULL, "%s: no message", args);
    return message;
}

/* The query string that carries filter, encoded as forms are. */
static const char *filter_args(const char *filter)
{
    return apr_pstrcat(pool, "$filter=", apr_pescape_urlencoded(pool, filter), NULL);
}

static const char *const compare_words[] = { "eq", "ne", "gt", "ge", "lt", "le" };
static const char *const function_words[] = { "startswith", "endswith", "contains" };

/* A filter tree as text: (a or b), (a and b), (not a), prop op 'text' or
 * null (a DateTimeOffset unquoted), fn(prop,'text'). */
static const char *tree(const ra_qnode_t *n)
{
    const char *prop = ra_prop_name(n->prop);
    const char *literal = !n->text ? "null"
                          : ra_prop_kind(n->prop) == RA_KIND_DATETIME ? n->text
                          : apr_pstrcat(pool, "'", n->text, "'", NULL);
    switch (n->kind) {
    case RA_QNODE_OR:
    case RA_QNODE_AND:
        return apr_pstrcat(pool, "(", tree(n->left), n->kind == RA_QNODE_OR ? " or " : " and ",
                           tree(n->right), ")", NULL);
    case RA_QNODE_NOT:
        return apr_pstrcat(pool, "(not ", tree(n->left), ")", NULL);
    case RA_QNODE_COMPARE:
        return apr_pstrcat(pool, prop, " ", compare_words[n->op], " ", literal, NULL);
    case RA_QNODE_FUNCTION:
        return apr_pstrcat(pool, function_words[n->op], "(", prop, ",", literal, ")", NULL);
    }
    return "?";
}

/* The order as text: "displayName desc,id asc". */
static const char *order(const ra_query_t *q)
{
    const char *out = "";
    for (int i = 0; i < q->order_count; i++) {
        out = apr_pstrcat(pool, out, i ? "," : "", ra_prop_name(q->order[i].prop),
                          q->order[i].descending ? " desc" : " asc", NULL);
    }
    return out;
}

/* ---- $filter: the grammar ---- */

START_TEST(filter_trees)
{
    static const struct {
        const char *filter, *tree;
    } cases[] = {
        /* every comparison operator, the property on either side */
        { "displayName eq 'x'", "displayName eq 'x'" },
        { "displayName ne 'x'", "displayName ne 'x'" },
        { "displayName gt 'x'", "displayName gt 'x'" },
        { "displayName ge 'x'", "displayName ge 'x'" },
        { "displayName lt 'x'", "displayName lt 'x'" },
        { "displayName le 'x'", "displayName le 'x'" },
        { "'x' eq displayName", "displayName eq 'x'" },
        { "'x' ne displayName", "displayName ne 'x'" },
        { "'x' gt displayName", "displayName lt 'x'" },
        { "'x' ge displayName", "displayName le 'x'" },
        { "'x' lt displayName", "displayName gt 'x'" },
        { "'x' le displayName", "displayName ge 'x'" },
        /* precedence: not, then and, then or; both binary ones associate left */
        { "id eq 'a' or id eq 'b' and id eq 'c'", "(id eq 'a' or (id eq 'b' and id eq 'c'))" },
        { "id eq 'a' and id eq 'b' or id eq 'c'", "((id eq 'a' and id eq 'b') or id eq 'c')" },
        { "id eq 'a' and id eq 'b' or id eq 'c' and id eq 'd'",
          "((id eq 'a' and id eq 'b') or (id eq 'c' and id eq 'd'))" },
        { "id eq 'a' or id eq 'b' or id eq 'c'", "((id eq 'a' or id eq 'b') or id eq 'c')" },
        { "id eq 'a' and id eq 'b' and id eq 'c'", "((id eq 'a' and id eq 'b') and id eq 'c')" },
        { "not id eq 'a' and id eq 'b'", "((not id eq 'a') and id eq 'b')" },
        { "not id eq 'a' or id eq 'b'", "((not id eq 'a') or id eq 'b')" },
        { "not not id eq 'a'", "(not (not id eq 'a'))" },
        { "id eq 'a' and not id eq 'b'", "(id eq 'a' and (not id eq 'b'))" },
        /* parentheses */
        { "id eq 'a' and (id eq 'b' or id eq 'c')", "(id eq 'a' and (id eq 'b' or id eq 'c'))" },
        { "not (id eq 'a' or id eq 'b')", "(not (id eq 'a' or id eq 'b'))" },
        { "((id eq 'a'))", "id eq 'a'" },
        { "(id eq 'a')or(id eq 'b')", "(id eq 'a' or id eq 'b')" },
        /* white space */
        { "  displayName\teq\t'x'  ", "displayName eq 'x'" },
        /* string literals: '' is one quote; keywords inside are text */
        { "displayName eq 'O''Brien'", "displayName eq 'O'Brien'" },
        { "displayName eq ''", "displayName eq ''" },
        { "displayName eq ''''", "displayName eq '''" },
        { "displayName eq 'a and b or not c)'", "displayName eq 'a and b or not c)'" },
        { "displayName eq 'caf\xc3\xa9'", "displayName eq 'caf\xc3\xa9'" },
        /* null, with eq and ne, on either side, on any property */
        { "displayName eq null", "displayName eq null" },
        { "null ne onboardingUrl", "onboardingUrl ne null" },
        { "id eq null", "id eq null" },
        { "onboardingStatus ne null", "onboardingStatus ne null" },
        { "lastConnectionDateTime eq null", "lastConnectionDateTime eq null" },
        /* enum literals, plain or qualified */
        { "onboardingStatus eq 'onboarding'", "onboardingStatus eq 'onboarding'" },
        { "onboardingStatus ne microsoft.graph.remoteAssistanceOnboardingStatus'onboarded'",
          "onboardingStatus ne 'onboarded'" },
        { "'notOnboarded' eq onboardingStatus", "onboardingStatus eq 'notOnboarded'" },
        /* DateTimeOffsets, unquoted */
        { "lastConnectionDateTime gt 2016-12-31T23:58:36.6670033-08:00",
          "lastConnectionDateTime gt 2016-12-31T23:58:36.6670033-08:00" },
        { "2017-01-01T00:00:00Z le onboardingRequestExpiryDateTime",
          "onboardingRequestExpiryDateTime ge 2017-01-01T00:00:00Z" },
        { "lastConnectionDateTime lt 2016-12-31T23:58+05:30",
          "lastConnectionDateTime lt 2016-12-31T23:58+05:30" },
        /* the string functions on each string property */
        { "startswith(displayName,'Con')", "startswith(displayName,'Con')" },
        { "endswith( onboardingUrl , '/' )", "endswith(onboardingUrl,'/')" },
        { "contains(id,'x')", "contains(id,'x')" },
        { "contains (displayName, 'a''b')", "contains(displayName,'a'b')" },
        { "startswith(displayName,'')", "startswith(displayName,'')" },
        { "not contains(displayName,'a')", "(not contains(displayName,'a'))" },
        { "id eq 'a' and contains(displayName,'x') or endswith(id,'z')",
          "((id eq 'a' and contains(displayName,'x')) or endswith(id,'z'))" },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_query_t q;
        parse_ok(RA_VERSION_BETA, RA_QUERY_LIST, filter_args(cases[i].filter), &q);
        ck_assert_ptr_nonnull(q.filter);
        ck_assert_msg(!strcmp(tree(q.filter), cases[i].tree), "%s: %s, expected %s",
                      cases[i].filter, tree(q.filter), cases[i].tree);
        ck_assert_str_eq(q.filter_text, cases[i].filter);
    }
}
END_TEST

/* A DateTimeOffset literal carries its instant, whichever side it is on. */
START_TEST(filter_datetime_ticks)
{
    static const char *const filters[] = {
        "lastConnectionDateTime gt 2016-12-31T23:58:36.6670033-08:00",
        "2017-01-01T07:58:36.6670033Z lt lastConnectionDateTime",
        "lastConnectionDateTime gt 2017-01-01T13:28:36.6670033+05:30",
    };
    for (size_t i = 0; i < COUNT_OF(filters); i++) {
        ra_query_t q;
        parse_ok(RA_VERSION_V1, RA_QUERY_LIST, filter_args(filters[i]), &q);
        ck_assert_int_eq(q.filter->kind, RA_QNODE_COMPARE);
        ck_assert_int_eq(q.filter->op, RA_Q_GT);
        ck_assert_int_eq(q.filter->prop, RA_PROP_LAST_CONNECTION);
        ck_assert_msg(q.filter->ticks == APR_INT64_C(636188543166670033), "%s: %lld ticks",
                      filters[i], (long long)q.filter->ticks);
    }
}
END_TEST

/* Each refusal, with its message and the 1-based position it points at. */
START_TEST(filter_errors)
{
#define AT(pos, text) "Invalid $filter at position " #pos ": " text "."
#define NOT_PROPERTY " is not a property of microsoft.graph.remoteAssistancePartner"
#define OPERATOR "expected a comparison operator (eq, ne, gt, ge, lt, le, in), found "
#define OPERAND "expected a property or a literal, found "
#define STRING_ONLY "displayName is a string: compare it with a string literal such as 'text'"
#define DATETIME_ONLY "lastConnectionDateTime is a DateTimeOffset: compare it with a " \
    "literal such as 2016-12-31T23:58:36Z (unquoted)"
#define STRING_PROPERTY " takes a string property (id, displayName or onboardingUrl) first"
    static const struct {
        const char *filter, *message;
    } cases[] = {
        { "", AT(1, OPERAND "the end") },
        { "displayName", AT(12, OPERATOR "the end") },
        { "displayName EQ 'x'", AT(13, OPERATOR "'EQ'") },
        { "displayName eq", AT(15, OPERAND "the end") },
        { "displayName eq 'x", AT(16, "the string literal is not closed") },
        { "displayName eq 'x' and", AT(23, OPERAND "the end") },
        { "displayName eq 'x' or", AT(22, OPERAND "the end") },
        { "displayName eq 'x' and not", AT(27, OPERAND "the end") },
        { "not", AT(4, OPERAND "the end") },
        { "()", AT(2, OPERAND "')'") },
        { "displayName eq 'x')", AT(19, "unexpected ')'") },
        { "(displayName eq 'x'", AT(20, "expected ')', found the end") },
        { "displayName eq 'x' displayName", AT(20, "unexpected 'displayName'") },
        { "displayName eq 'x' AND id eq 'y'", AT(20, "unexpected 'AND'") },
        { "displayName eq 'x' # ", AT(20, "unexpected character '#'") },
        { "displayName eq 'x' aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          AT(20, "unexpected 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'") },
        { "colour eq 'x'", AT(1, "'colour'" NOT_PROPERTY) },
        { "Displayname eq 'x'", AT(1, "'Displayname'" NOT_PROPERTY) },
        { "onboardingStatus eq onboarding", AT(21, "'onboarding'" NOT_PROPERTY) },
        { "displayName eq displayName", AT(1, "comparing two properties is not supported") },
        { "'a' eq 'b'", AT(1, "a comparison needs a property on one side") },
        { "null eq null", AT(1, "a comparison needs a property on one side") },
        { "displayName eq 5", AT(16, STRING_ONLY) },
        { "displayName eq -5", AT(16, STRING_ONLY) },
        { "displayName eq true", AT(16, STRING_ONLY) },
        { "displayName eq 2016-12-31T23:58:36Z", AT(16, STRING_ONLY) },
        { "displayName eq microsoft.graph.remoteAssistanceOnboardingStatus'onboarded'",
          AT(16, STRING_ONLY) },
        { "'x' eq 5", AT(1, "a comparison needs a property on one side") },
        { "5 eq displayName", AT(1, STRING_ONLY) },
        { "displayName gt null", AT(16, "null can only be compared with eq or ne") },
        { "null le displayName", AT(1, "null can only be compared with eq or ne") },
        { "onboardingStatus eq 'Onboarding'",
          AT(21, "onboardingStatus is one of 'notOnboarded', 'onboarding' or 'onboarded'") },
        { "onboardingStatus eq false",
          AT(21, "onboardingStatus is one of 'notOnboarded', 'onboarding' or 'onboarded'") },
        { "onboardingStatus eq microsoft.graph.remoteAssistanceOnboardingStatus'x'",
          AT(21, "onboardingStatus is one of 'notOnboarded', 'onboarding' or 'onboarded'") },
        { "onboardingStatus eq microsoft.graph.other'onboarding'",
          AT(21, "onboardingStatus is of type microsoft.graph.remoteAssistanceOnboardingStatus") },
        { "onboardingStatus eq microsoft.graph.remoteAssistanceOnboardingStatus'x",
          AT(21, "the string literal is not closed") },
        { "lastConnectionDateTime gt '2016-12-31T00:00:00Z'", AT(27, DATETIME_ONLY) },
        { "lastConnectionDateTime gt 2016-02-30T00:00:00Z", AT(27, DATETIME_ONLY) },
        { "lastConnectionDateTime gt 2016-12-31T23:58:36", AT(27, DATETIME_ONLY) },
        { "lastConnectionDateTime eq 5", AT(27, DATETIME_ONLY) },
        { "startswith(onboardingStatus,'a')", AT(12, "startswith" STRING_PROPERTY) },
        { "startswith(colour,'a')", AT(12, "startswith" STRING_PROPERTY) },
        { "endswith(lastConnectionDateTime,'a')", AT(10, "endswith" STRING_PROPERTY) },
        { "contains('a',displayName)", AT(10, "contains" STRING_PROPERTY) },
        { "startswith(displayName 'a')", AT(24, "expected ',' in startswith, found ''a''") },
        { "endswith(displayName, 5)", AT(23, "endswith takes a string literal second") },
        { "endswith(displayName, null)", AT(23, "endswith takes a string literal second") },
        { "contains(displayName,'a'", AT(25, "expected ')' after the arguments of contains, "
                                             "found the end") },
        { "contains(displayName,'a','b')", AT(25, "expected ')' after the arguments of "
                                                  "contains, found ','") },
        { "contains(displayName,'a') eq true", AT(27, "unexpected 'eq'") },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        const char *message = parse_error(RA_VERSION_BETA, RA_QUERY_LIST,
                                          filter_args(cases[i].filter));
        ck_assert_msg(!strcmp(message, cases[i].message), "%s:\n  %s\nexpected\n  %s",
                      cases[i].filter, message, cases[i].message);
    }
    /* positions count decoded characters */
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "$filter=displayName%20eq%205"),
                     AT(16, STRING_ONLY));
    /* the beta property is unknown to v1.0 */
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                 filter_args("onboardingRequestExpiryDateTime gt "
                                             "2016-01-01T00:00:00Z")),
                     AT(1, "'onboardingRequestExpiryDateTime'" NOT_PROPERTY));
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_COUNT,
                                 filter_args("startswith(onboardingRequestExpiryDateTime,'2')")),
                     AT(12, "startswith" STRING_PROPERTY));
#undef AT
}
END_TEST

/* ---- $filter: limits ---- */

static const char *repeat(const char *unit, int n, const char *separator)
{
    const char *out = "";
    for (int i = 0; i < n; i++) {
        out = apr_pstrcat(pool, out, i ? separator : "", unit, NULL);
    }
    return out;
}

START_TEST(filter_length_limit)
{
    ra_query_t q;
    /* displayName eq '...' of exactly the longest length */
    size_t fill = RA_QUERY_FILTER_MAX_LENGTH - strlen("displayName eq ''");
    char *filter = apr_palloc(pool, RA_QUERY_FILTER_MAX_LENGTH + 2);
    strcpy(filter, "displayName eq '");
    memset(filter + 16, 'a', fill);
    strcpy(filter + 16 + fill, "'");
    ck_assert_uint_eq(strlen(filter), RA_QUERY_FILTER_MAX_LENGTH);
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, filter_args(filter), &q);
    ck_assert_uint_eq(strlen(q.filter->text), fill);

    strcpy(filter + 16 + fill, "a'");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, filter_args(filter)),
                     "Invalid $filter: longer than 4096 characters.");
}
END_TEST

START_TEST(filter_node_limit)
{
    ra_query_t q;
    /* n comparisons joined by or are 2n - 1 nodes */
    const char *nodes99 = repeat("id eq 'a'", 50, " or ");
    const char *nodes101 = repeat("id eq 'a'", 51, " or ");
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, filter_args(nodes99), &q);
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
             filter_args(apr_pstrcat(pool, "not (", nodes99, ")", NULL)), &q);
    ck_assert_int_eq(q.filter->kind, RA_QNODE_NOT);
    /* the 101st node is the last comparison: the position after it */
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, filter_args(nodes101)),
                     apr_psprintf(pool, "Invalid $filter at position %d: the filter has more "
                                  "than 100 terms.", (int)strlen(nodes101) + 1));
    const char *message = parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                      filter_args(apr_pstrcat(pool, "not not (", nodes99, ")",
                                                              NULL)));
    ck_assert_msg(strstr(message, "the filter has more than 100 terms") != NULL, "%s", message);
}
END_TEST

START_TEST(filter_depth_limit)
{
    ra_query_t q;
    const char *inner = "id eq 'a'";
    int max = RA_QUERY_FILTER_MAX_DEPTH;
    static const char deeper[] = "the filter nests deeper than 32 levels.";

    parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
             filter_args(apr_pstrcat(pool, repeat("(", max, ""), inner, repeat(")", max, ""),
                                     NULL)), &q);
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                 filter_args(apr_pstrcat(pool, repeat("(", max + 1, ""), inner,
                                                         repeat(")", max + 1, ""), NULL))),
                     apr_psprintf(pool, "Invalid $filter at position %d: %s", max + 1, deeper));
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
             filter_args(apr_pstrcat(pool, repeat("not ", max, ""), inner, NULL)), &q);
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                 filter_args(apr_pstrcat(pool, repeat("not ", max + 1, ""),
                                                         inner, NULL))),
                     apr_psprintf(pool, "Invalid $filter at position %d: %s", 4 * max + 1,
                                  deeper));
    /* not and parentheses nest together */
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                 filter_args(apr_pstrcat(pool, repeat("not (", max / 2, ""),
                                                         "(", inner, ")",
                                                         repeat(")", max / 2, ""), NULL))),
                     apr_psprintf(pool, "Invalid $filter at position %d: %s", 5 * (max / 2) + 1,
                                  deeper));
    /* depth is nesting, not the number of groups side by side (3 levels each) */
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
             filter_args(repeat("(not (id eq 'a'))", max + 1, " and ")), &q);
}
END_TEST

/* ---- $orderby, $select, $top, $skip, $count ---- */

START_TEST(orderby)
{
    static const struct {
        const char *args, *order;
    } cases[] = {
        { NULL, "id asc" },
        { "$orderby=displayName", "displayName asc,id asc" },
        { "$orderby=displayName desc,lastConnectionDateTime",
          "displayName desc,lastConnectionDateTime asc,id asc" },
        { "$orderby=displayName asc", "displayName asc,id asc" },
        /* the id already there: not appended again */
        { "$orderby=id desc", "id desc" },
        { "$orderby=displayName desc, id", "displayName desc,id asc" },
        { "$orderby=id,displayName", "id asc,displayName asc" },
        { "$orderby=%20displayName%20%20desc%20", "displayName desc,id asc" },
        { "$orderby=lastConnectionDateTime+desc", "lastConnectionDateTime desc,id asc" },
        { "$orderby=onboardingStatus asc,onboardingUrl desc,displayName,"
          "lastConnectionDateTime desc,onboardingRequestExpiryDateTime",
          "onboardingStatus asc,onboardingUrl desc,displayName asc,lastConnectionDateTime desc,"
          "onboardingRequestExpiryDateTime asc,id asc" },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_query_t q;
        parse_ok(RA_VERSION_BETA, RA_QUERY_LIST, cases[i].args, &q);
        ck_assert_msg(!strcmp(order(&q), cases[i].order), "%s: %s", cases[i].args, order(&q));
    }
    ra_query_t q;
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "$orderby=displayName+desc", &q);
    ck_assert_str_eq(q.orderby_text, "displayName desc");
}
END_TEST

START_TEST(orderby_errors)
{
#define UNKNOWN(option, name) "Invalid " option ": '" name "'" \
    " is not a property of microsoft.graph.remoteAssistancePartner."
    static const struct {
        ra_version_e version;
        const char *value, *message;
    } cases[] = {
        { RA_VERSION_V1, "displayName up", "Invalid $orderby: 'up' is not asc or desc." },
        { RA_VERSION_V1, "displayName ASC", "Invalid $orderby: 'ASC' is not asc or desc." },
        { RA_VERSION_V1, "displayName desc desc",
          "Invalid $orderby: 'desc desc' is not asc or desc." },
        { RA_VERSION_V1, "displayName,displayName desc",
          "Invalid $orderby: 'displayName' appears twice." },
        { RA_VERSION_V1, "id,id", "Invalid $orderby: 'id' appears twice." },
        { RA_VERSION_V1, "colour", UNKNOWN("$orderby", "colour") },
        { RA_VERSION_V1, "DisplayName", UNKNOWN("$orderby", "DisplayName") },
        { RA_VERSION_V1, "onboardingRequestExpiryDateTime",
          UNKNOWN("$orderby", "onboardingRequestExpiryDateTime") },
        { RA_VERSION_V1, "displayName,", "Invalid $orderby: an empty item." },
        { RA_VERSION_V1, ",displayName", "Invalid $orderby: an empty item." },
        { RA_VERSION_V1, "", "Invalid $orderby: an empty item." },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ck_assert_str_eq(parse_error(cases[i].version, RA_QUERY_LIST,
                                     apr_pstrcat(pool, "$orderby=", cases[i].value, NULL)),
                         cases[i].message);
    }
}
END_TEST

START_TEST(select_option)
{
    static const struct {
        ra_version_e version;
        ra_query_target_e target;
        const char *value;
        unsigned mask;
    } cases[] = {
        { RA_VERSION_V1, RA_QUERY_LIST, "id,displayName",
          RA_PROP_BIT(RA_PROP_ID) | RA_PROP_BIT(RA_PROP_DISPLAY_NAME) },
        { RA_VERSION_V1, RA_QUERY_ENTITY, "onboardingStatus",
          RA_PROP_BIT(RA_PROP_ONBOARDING_STATUS) },
        { RA_VERSION_V1, RA_QUERY_LIST, "%20displayName%20,%20onboardingUrl",
          RA_PROP_BIT(RA_PROP_DISPLAY_NAME) | RA_PROP_BIT(RA_PROP_ONBOARDING_URL) },
        { RA_VERSION_V1, RA_QUERY_LIST, "id,id", RA_PROP_BIT(RA_PROP_ID) },
        { RA_VERSION_V1, RA_QUERY_LIST, "*", ALL_PROPS },
        { RA_VERSION_V1, RA_QUERY_ENTITY, "displayName,*", ALL_PROPS },
        { RA_VERSION_BETA, RA_QUERY_ENTITY, "onboardingRequestExpiryDateTime",
          RA_PROP_BIT(RA_PROP_EXPIRY) },
    };
    ra_query_t q;
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        parse_ok(cases[i].version, cases[i].target,
                 apr_pstrcat(pool, "$select=", cases[i].value, NULL), &q);
        ck_assert_msg(q.select == cases[i].mask, "$select=%s: mask %x", cases[i].value,
                      q.select);
    }
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "$select=id,displayName", &q);
    ck_assert_str_eq(q.select_text, "id,displayName");

    static const struct {
        ra_version_e version;
        const char *value, *message;
    } errors[] = {
        { RA_VERSION_V1, "colour", UNKNOWN("$select", "colour") },
        { RA_VERSION_V1, "id,DisplayName", UNKNOWN("$select", "DisplayName") },
        { RA_VERSION_V1, "onboardingRequestExpiryDateTime",
          UNKNOWN("$select", "onboardingRequestExpiryDateTime") },
        { RA_VERSION_BETA, "id displayName", UNKNOWN("$select", "id displayName") },
        { RA_VERSION_BETA, "", "Invalid $select: an empty item." },
        { RA_VERSION_BETA, "id,", "Invalid $select: an empty item." },
    };
    for (size_t i = 0; i < COUNT_OF(errors); i++) {
        ck_assert_str_eq(parse_error(errors[i].version, RA_QUERY_ENTITY,
                                     apr_pstrcat(pool, "$select=", errors[i].value, NULL)),
                         errors[i].message);
    }
#undef UNKNOWN
}
END_TEST

START_TEST(top_and_skip)
{
    static const struct {
        const char *value;
        apr_int64_t number;  /* -1: refused */
        const char *shown;   /* as the message quotes it, when not the value */
    } cases[] = {
        { "0", 0, NULL },
        { "1", 1, NULL },
        { "01", 1, NULL },
        { "25", 25, NULL },
        { "1000000000", APR_INT64_C(1000000000), NULL },
        { "1000000001", -1, NULL },
        { "9999999999", -1, NULL },
        { "10000000000", -1, NULL },
        { "-1", -1, NULL },
        { "", -1, NULL },
        { "1.5", -1, NULL },
        { "abc", -1, NULL },
        { "1e3", -1, NULL },
        { "0x10", -1, NULL },
        { "%201", -1, " 1" },
        { "+1", -1, " 1" },     /* '+' is a space */
    };
    static const char *const options[] = { "$top", "$skip" };
    for (size_t o = 0; o < COUNT_OF(options); o++) {
        for (size_t i = 0; i < COUNT_OF(cases); i++) {
            const char *args = apr_pstrcat(pool, options[o], "=", cases[i].value, NULL);
            if (cases[i].number >= 0) {
                ra_query_t q;
                parse_ok(RA_VERSION_V1, RA_QUERY_LIST, args, &q);
                ck_assert_msg((o ? q.skip : q.top) == cases[i].number, "%s", args);
                ck_assert_msg((o ? q.top : q.skip) == -1, "%s: the other is set", args);
            }
            else {
                ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, args),
                                 apr_psprintf(pool, "Invalid %s: '%s' is not a number from 0 "
                                              "to 1000000000.", options[o],
                                              cases[i].shown ? cases[i].shown
                                                             : cases[i].value));
            }
        }
    }
}
END_TEST

START_TEST(count_option)
{
    ra_query_t q;
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "$count=true", &q);
    ck_assert_int_eq(q.count, 1);
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "$count=false", &q);
    ck_assert_int_eq(q.count, 0);
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "$count=TRUE"),
                     "Invalid $count: 'TRUE' is not true or false.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "$count=1"),
                     "Invalid $count: '1' is not true or false.");
    /* an option without '=' has an empty value */
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "$count"),
                     "Invalid $count: '' is not true or false.");
}
END_TEST

/* ---- the query string ---- */

START_TEST(defaults)
{
    static const char *const args[] = { NULL, "", "&", "&&", "custom=1", "=x" };
    for (size_t i = 0; i < COUNT_OF(args); i++) {
        ra_query_t q;
        memset(&q, 0xAB, sizeof(q)); /* nothing stale survives */
        parse_ok(RA_VERSION_V1, RA_QUERY_NONE, args[i], &q);
        ck_assert_ptr_null(q.filter);
        ck_assert_ptr_null(q.filter_text);
        ck_assert_str_eq(order(&q), "id asc");
        ck_assert_ptr_null(q.orderby_text);
        ck_assert_uint_eq(q.select, 0);
        ck_assert_ptr_null(q.select_text);
        ck_assert_int_eq(q.top, -1);
        ck_assert_int_eq(q.skip, -1);
        ck_assert_int_eq(q.count, 0);
        ck_assert_int_eq(q.after_set, 0);
    }
}
END_TEST

/* A valid value of each option for the default query: its name=value. */
static const char *valid_option(int i)
{
    ra_query_t plain;
    ra_key_value_t after = { "x", 0 };
    switch (i) {
    case 0: return "$filter=id eq 'a'";
    case 1: return "$orderby=id";
    case 2: return "$select=id";
    case 3: return "$top=1";
    case 4: return "$skip=1";
    case 5: return "$count=true";
    default:
        parse_ok(RA_VERSION_V1, RA_QUERY_LIST, NULL, &plain);
        return apr_pstrcat(pool, "$skiptoken=",
                           ra_query_skiptoken(pool, &plain, &after, TEST_TOKEN_KEY), NULL);
    }
}

/* Which request takes which option. */
START_TEST(option_targets)
{
    enum { F = 1, O = 2, S = 4, T = 8, K = 16, C = 32, TOKEN = 64 };
    static const char *const names[] = { "$filter", "$orderby", "$select", "$top", "$skip",
                                         "$count", "$skiptoken" };
    static const struct {
        ra_query_target_e target;
        unsigned allowed;
        const char *name;
    } targets[] = {
        { RA_QUERY_LIST, F | O | S | T | K | C | TOKEN, "the collection" },
        { RA_QUERY_COUNT, F, "$count" },
        { RA_QUERY_ENTITY, S, "a single remoteAssistancePartner" },
        { RA_QUERY_NONE, 0, "this request" },
    };
    for (size_t t = 0; t < COUNT_OF(targets); t++) {
        for (int i = 0; i < (int)COUNT_OF(names); i++) {
            const char *args = valid_option(i);
            if (targets[t].allowed & (1u << i)) {
                ra_query_t q;
                parse_ok(RA_VERSION_V1, targets[t].target, args, &q);
            }
            else {
                ck_assert_str_eq(parse_error(RA_VERSION_V1, targets[t].target, args),
                                 apr_psprintf(pool, "The query option '%s' is not allowed on "
                                              "%s.", names[i], targets[t].name));
            }
        }
    }
    /* all of them together on a list */
    ra_query_t q;
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
             apr_pstrcat(pool, valid_option(0), "&", valid_option(2), "&", valid_option(3), "&",
                         valid_option(4), "&", valid_option(5), NULL), &q);
    ck_assert_ptr_nonnull(q.filter);
    ck_assert_uint_eq(q.select, RA_PROP_BIT(RA_PROP_ID));
    ck_assert_int_eq(q.top, 1);
    ck_assert_int_eq(q.skip, 1);
    ck_assert_int_eq(q.count, 1);
}
END_TEST

START_TEST(option_names)
{
    static const char *const unsupported[] = {
        "$expand", "$search", "$apply", "$compute", "$levels", "$deltatoken",
        "$index", "$schemaversion", "$id",
    };
    static const ra_query_target_e targets[] = { RA_QUERY_LIST, RA_QUERY_NONE };
    ra_query_t q;

    for (size_t t = 0; t < COUNT_OF(targets); t++) {
        for (size_t i = 0; i < COUNT_OF(unsupported); i++) {
            const char *want = apr_pstrcat(pool, "The query option '", unsupported[i],
                                           "' is not supported: ", NULL);
            const char *message = parse_error(RA_VERSION_V1, targets[t],
                                              apr_pstrcat(pool, unsupported[i], "=x", NULL));
            ck_assert_msg(!strncmp(message, want, strlen(want)), "%s", message);
        }
    }
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "$EXPAND=x"),
                     "The query option '$expand' is not supported: remoteAssistancePartner has "
                     "no navigation properties.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "$foo=1"),
                     "'$foo' is not an OData system query option.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_NONE, "$=1"),
                     "'$' is not an OData system query option.");
    /* names are case-insensitive */
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "$TOP=5&$Filter=id eq 'a'", &q);
    ck_assert_int_eq(q.top, 5);
    ck_assert_ptr_nonnull(q.filter);
    /* so a repetition is one in any case */
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "$top=1&$top=2"),
                     "The query option '$top' is given more than once.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                 "$filter=id eq 'a'&$FILTER=id eq 'b'"),
                     "The query option '$filter' is given more than once.");
    /* a system option's name without its '$' is a mistake on v1.0, not a
     * custom option (Graph's v1.0 refuses it too) */
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "top=5"),
                     "The query option 'top' needs its '$' prefix: $top.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_NONE, "Filter=x"),
                     "The query option 'Filter' needs its '$' prefix: $filter.");
    /* custom options are not ours to interpret, on any request */
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "foo=bar&$top=3&api-version=2&flag", &q);
    ck_assert_int_eq(q.top, 3);
    parse_ok(RA_VERSION_V1, RA_QUERY_NONE, "foo=$top&x=$filter=", &q);
}
END_TEST

/* ---- issue 19: in, parameter aliases, enum order, beta's $-less names, $format ---- */

START_TEST(in_operator)
{
    static const struct {
        const char *filter, *tree;
    } cases[] = {
        { "onboardingStatus in ('onboarded','notOnboarded')",
          "(onboardingStatus eq 'onboarded' or onboardingStatus eq 'notOnboarded')" },
        { "displayName in ('a')", "displayName eq 'a'" },
        { "displayName in ( 'a' , null , 'b' )",
          "((displayName eq 'a' or displayName eq null) or displayName eq 'b')" },
        { "not (id in ('x','y')) and displayName eq 'z'",
          "((not (id eq 'x' or id eq 'y')) and displayName eq 'z')" },
        { "lastConnectionDateTime in (2020-01-01T00:00:00Z)",
          "lastConnectionDateTime eq 2020-01-01T00:00:00Z" },
        { "displayName in (@a,'b')&@a='x'", "(displayName eq 'x' or displayName eq 'b')" },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_query_t q;
        const char *amp = strchr(cases[i].filter, '&');
        const char *args = amp ? apr_pstrcat(pool, "$filter=", apr_pstrmemdup(
                                                 pool, cases[i].filter,
                                                 (apr_size_t)(amp - cases[i].filter)),
                                             amp, NULL)
                               : filter_args(cases[i].filter);
        parse_ok(RA_VERSION_V1, RA_QUERY_LIST, args, &q);
        ck_assert_str_eq(tree(q.filter), cases[i].tree);
    }
    static const struct {
        const char *filter, *message;
    } errors[] = {
        { "displayName in 'a'", "Invalid $filter at position 16: expected '(' after in, "
                                "found ''a''." },
        { "displayName in ()", "Invalid $filter at position 17: expected a property or a "
                               "literal, found ')'." },
        { "displayName in ('a' 'b')", "Invalid $filter at position 21: expected ',' or ')' "
                                      "in the list of in, found ''b''." },
        { "displayName in ('a',id)", "Invalid $filter at position 21: the list of in holds "
                                     "literals only." },
        { "'a' in ('a')", "Invalid $filter at position 1: in needs a property on its left." },
        { "onboardingStatus in ('x')", "Invalid $filter at position 22: onboardingStatus is "
                                       "one of 'notOnboarded', 'onboarding' or 'onboarded'." },
        { "displayName in ('a',1)", "Invalid $filter at position 21: displayName is a "
                                    "string: compare it with a string literal such as 'text'." },
    };
    for (size_t i = 0; i < COUNT_OF(errors); i++) {
        ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, filter_args(errors[i].filter)),
                         errors[i].message);
    }
}
END_TEST

START_TEST(parameter_aliases)
{
    ra_query_t q;

    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "$filter=displayName eq @p&@p='Alpha'", &q);
    ck_assert_str_eq(tree(q.filter), "displayName eq 'Alpha'");
    /* defined before its use, in any position, on either side, in functions */
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "@p=%27a%27%27b%27&$filter=@p ne displayName", &q);
    ck_assert_str_eq(tree(q.filter), "displayName ne 'a'b'");
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "$filter=startswith(displayName,@s)&@s='Al'", &q);
    ck_assert_str_eq(tree(q.filter), "startswith(displayName,'Al')");
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "$filter=displayName eq @n&@n=null", &q);
    ck_assert_str_eq(tree(q.filter), "displayName eq null");
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
             "$filter=lastConnectionDateTime gt @d&@d=2020-01-01T00:00:00Z", &q);
    ck_assert_str_eq(tree(q.filter), "lastConnectionDateTime gt 2020-01-01T00:00:00Z");
    /* in $orderby, an alias names the property */
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "$orderby=@o desc&@o=displayName", &q);
    ck_assert_str_eq(order(&q), "displayName desc,id asc");
    /* the next page's link carries the aliases ($filter as sent, but for
     * the spaces no request line holds raw) */
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "$filter=displayName eq @p&@p='A B'", &q);
    ck_assert_str_eq(ra_query_next_args(pool, &q, "T"),
                     "$filter=displayName%20eq%20@p&@p=%27A+B%27&$skiptoken=T");

    /* an alias without a value is refused, as is one given twice */
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "$filter=displayName eq @p"),
                     "Invalid $filter at position 16: the parameter alias '@p' has no value.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                 "$filter=displayName eq @p&@p="),
                     "Invalid $filter at position 16: the parameter alias '@p' has no value.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "$orderby=@o&@q=id"),
                     "Invalid $orderby: the parameter alias '@o' has no value.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "@p='a'&@p='b'"),
                     "The parameter alias '@p' is given more than once.");
    /* its value is one literal, checked against the property */
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                 "$filter=displayName eq @p&@p=displayName"),
                     "Invalid $filter at position 16: the value of the parameter alias '@p' "
                     "is not a literal.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                 "$filter=displayName eq @p&@p='a' or id eq 'b'"),
                     "Invalid $filter at position 16: the value of the parameter alias '@p' "
                     "is not a single literal.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                 "$filter=displayName eq @p&@p=@p"),
                     "Invalid $filter at position 16: the value of the parameter alias '@p' "
                     "is not a literal.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                 "$filter=displayName eq @p&@p=5"),
                     "Invalid $filter at position 16: displayName is a string: compare it "
                     "with a string literal such as 'text'.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "$orderby=@o&@o=nope"),
                     "Invalid $orderby: 'nope' is not a property of "
                     "microsoft.graph.remoteAssistancePartner.");
}
END_TEST

/* Every comparison operator applies to the enum, by member value (ra_sql). */
START_TEST(enum_comparisons)
{
    for (size_t i = 0; i < COUNT_OF(compare_words); i++) {
        ra_query_t q;
        const char *filter = apr_pstrcat(pool, "onboardingStatus ", compare_words[i],
                                         " 'onboarding'", NULL);
        parse_ok(RA_VERSION_V1, RA_QUERY_LIST, filter_args(filter), &q);
        ck_assert_str_eq(tree(q.filter), filter);
    }
    for (int v = 0; v < RA_ENTITY_STATUS_MEMBERS; v++) {
        ck_assert_int_eq(ra_entity_status_value(ra_entity_status_member(v)), v);
    }
    ck_assert_str_eq(ra_entity_status_member(0), "notOnboarded");
    ck_assert_str_eq(ra_entity_status_member(1), "onboarding");
    ck_assert_str_eq(ra_entity_status_member(2), "onboarded");
    ck_assert_ptr_null(ra_entity_status_member(3));
    ck_assert_int_eq(ra_entity_status_value("Onboarded"), -1);
}
END_TEST

/* Beta takes system options without their '$', as Graph's beta does. */
START_TEST(beta_without_dollar)
{
    ra_query_t q;

    parse_ok(RA_VERSION_BETA, RA_QUERY_LIST,
             "filter=displayName eq 'a'&TOP=2&orderby=displayName desc&select=id&skip=1"
             "&count=true", &q);
    ck_assert_str_eq(tree(q.filter), "displayName eq 'a'");
    ck_assert_int_eq(q.top, 2);
    ck_assert_int_eq(q.skip, 1);
    ck_assert_int_eq(q.count, 1);
    ck_assert_uint_eq(q.select, RA_PROP_BIT(RA_PROP_ID));
    ck_assert_str_eq(order(&q), "displayName desc,id asc");
    /* one option, with or without its '$' */
    ck_assert_str_eq(parse_error(RA_VERSION_BETA, RA_QUERY_LIST, "top=1&$top=2"),
                     "The query option '$top' is given more than once.");
    ck_assert_str_eq(parse_error(RA_VERSION_BETA, RA_QUERY_LIST, "expand=x"),
                     "The query option '$expand' is not supported: remoteAssistancePartner has "
                     "no navigation properties.");
    ck_assert_str_eq(parse_error(RA_VERSION_BETA, RA_QUERY_ENTITY, "top=1"),
                     "The query option '$top' is not allowed on a single "
                     "remoteAssistancePartner.");
    /* other names stay custom options */
    parse_ok(RA_VERSION_BETA, RA_QUERY_LIST, "foo=1&api-version=2", &q);
    /* v1.0 stays strict */
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "filter=id eq 'a'"),
                     "The query option 'filter' needs its '$' prefix: $filter.");
}
END_TEST

START_TEST(format_option)
{
    static const struct {
        const char *value;
        int json, level;
    } cases[] = {
        { "json", 1, RA_JW_METADATA_MINIMAL },
        { "application/json", 1, RA_JW_METADATA_MINIMAL },
        { "application/json;odata.metadata=none", 1, RA_JW_METADATA_NONE },
        { "Application/JSON; odata.metadata=full", 1, RA_JW_METADATA_FULL },
        { "application/json;odata.metadata=minimal;odata.streaming=true", 1,
          RA_JW_METADATA_MINIMAL },
        { "xml", 0, RA_JW_METADATA_MINIMAL },
        { "application/xml", 0, RA_JW_METADATA_MINIMAL },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_query_t q;
        parse_ok(RA_VERSION_V1, RA_QUERY_SERVICE,
                 apr_pstrcat(pool, "$format=", apr_pescape_urlencoded(pool, cases[i].value),
                             NULL), &q);
        ck_assert_str_eq(q.format, cases[i].value);
        ck_assert_int_eq(q.format_json, cases[i].json);
        ck_assert_int_eq(q.metadata, cases[i].level);
    }
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, "$format=atom"),
                     "Invalid $format: 'atom' is not json, xml or "
                     "application/json;odata.metadata=none|minimal|full.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                 "$format=application/json;odata.metadata=some"),
                     "Invalid $format: 'application/json;odata.metadata=some' is not json, xml "
                     "or application/json;odata.metadata=none|minimal|full.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_COUNT, "$format=json"),
                     "The query option '$format' is not allowed on $count.");
    ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_SERVICE, "$top=1"),
                     "The query option '$top' is not allowed on this resource.");
}
END_TEST

START_TEST(percent_decoding)
{
    static const struct {
        const char *args, *literal;
    } cases[] = {
        { "$filter=displayName%20eq%20%27a%2Bb%27", "a+b" },
        { "$filter=displayName+eq+'a+b'", "a b" },
        { "$filter=displayName eq '%C3%a9'", "\xc3\xa9" },
        { "$filter=displayName eq 'caf\xc3\xa9'", "caf\xc3\xa9" },
        /* '&' and '=' inside a value, escaped or after the first '=' */
        { "$filter=displayName eq '%26'", "&" },
        { "$filter=displayName eq 'a=b'", "a=b" },
        { "%24filter=displayName%20eq%20'x'", "x" },
        { "$filter=displayName eq '%2b%2B'", "++" },   /* either case of hex digit */
        { "$filter=displayName eq '100%25'", "100%" }, /* decoded once, not twice */
        { "$filter=displayName eq '100%2541'", "100%41" },
        { "$filter=displayName eq '%27%27'", "'" },    /* an escaped quote is a quote */
        { "$filter=displayName eq '%0A'", "\n" },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_query_t q;
        parse_ok(RA_VERSION_V1, RA_QUERY_LIST, cases[i].args, &q);
        ck_assert_msg(!strcmp(q.filter->text, cases[i].literal), "%s: '%s'", cases[i].args,
                      q.filter->text);
    }
    static const char *const invalid[] = {
        "$filter=%", "$filter=%2", "$filter=%zz", "$filter=%g0",
        "$filter=displayName eq '%00'",           /* NUL */
        "$filter=displayName eq '%FF'",           /* not UTF-8 */
        "$filter=displayName eq '%C3'",           /* a truncated sequence */
        "$filter=displayName eq '\xff'",          /* raw, not UTF-8 */
        "%ZZtop=1",                               /* in a name */
        "custom=%",                               /* even in a custom option */
        "$top=1%",
        "$filter=displayName eq '%'",             /* a '%' at the end of the value */
        "$filter=displayName eq '%4'",            /* one hex digit, then the quote */
        "$filter=displayName eq '%%41'",
        "$filter=displayName eq '% 41'",
        "$filter=displayName eq 'a%00b'",         /* NUL inside */
        "%00=1",                                  /* NUL in a custom option's name */
        "$top=1&custom=%4",                       /* a '%' at the end of a later item */
        "$top=%2&$skip=1",                        /* ... and before the '&' */
    };
    for (size_t i = 0; i < COUNT_OF(invalid); i++) {
        ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST, invalid[i]),
                         "The query string is not valid: a malformed %-escape, a NUL byte or "
                         "text that is not UTF-8.");
    }
}
END_TEST

/* ---- $skiptoken and the next page's query string ---- */

/* The decoded JSON inside a $skiptoken, after its signature. */
static json_t *token_json(const char *token)
{
    apr_size_t len = 0;
    const char *raw = apr_pdecode_base64(pool, token, APR_ENCODE_STRING, APR_ENCODE_BASE64URL,
                                         &len);
    ck_assert_ptr_nonnull(raw);
    ck_assert_uint_gt(len, RA_QUERY_TOKEN_MAC_LEN);
    json_t *doc = json_loadb(raw + RA_QUERY_TOKEN_MAC_LEN, len - RA_QUERY_TOKEN_MAC_LEN, 0,
                             NULL);
    ck_assert_ptr_nonnull(doc);
    return doc;
}

/* A $skiptoken of text whose signature (key) is over signed. */
static const char *token_raw(const char *text, const char *signed_text, const char *key)
{
    size_t len = strlen(text);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)signed_text,
         strlen(signed_text), mac, &mac_len);
    unsigned char *raw = apr_palloc(pool, RA_QUERY_TOKEN_MAC_LEN + len);
    memcpy(raw, mac, RA_QUERY_TOKEN_MAC_LEN);
    memcpy(raw + RA_QUERY_TOKEN_MAC_LEN, text, len);
    return apr_pencode_base64_binary(pool, raw, RA_QUERY_TOKEN_MAC_LEN + len,
                                     APR_ENCODE_BASE64URL, NULL);
}

/* A $skiptoken made of doc (reference taken) and signed with key, as one
 * who knew the key could make it: what the parser alone must refuse. */
static const char *token_signed(json_t *doc, const char *key)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(doc);
    const char *token = token_raw(text, text, key);
    free(text);
    return token;
}

static const char *token_of(json_t *doc)
{
    return token_signed(doc, TEST_TOKEN_KEY);
}

START_TEST(skiptoken_round_trip)
{
    ra_query_t q, next;
    static const char args[] = "$filter=startswith(displayName,'A')"
                               "&$orderby=displayName desc,lastConnectionDateTime";
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, args, &q);
    ck_assert_int_eq(q.order_count, 3);
    const ra_key_value_t last[] = { { NULL, 0 },
                                    { NULL, APR_INT64_C(636188543166670033) },
                                    { "id-9", 0 } };
    const char *token = ra_query_skiptoken(pool, &q, last, TEST_TOKEN_KEY);
    ck_assert_uint_eq(strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-_"), strlen(token));
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, apr_pstrcat(pool, args, "&$skiptoken=", token, NULL),
             &next);
    ck_assert_int_eq(next.after_set, 1);
    ck_assert_ptr_null(next.after[0].text);
    ck_assert_int_eq(next.after[1].ticks, APR_INT64_C(636188543166670033));
    ck_assert_str_eq(next.after[2].text, "id-9");
    /* where $skiptoken stands among the options does not matter */
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
             apr_pstrcat(pool, "$skiptoken=", token, "&", args, NULL), &next);
    ck_assert_int_eq(next.after_set, 1);

    /* text with quotes and non-ASCII characters survives */
    const ra_key_value_t odd[] = { { "O'Brien \xc3\xa9\"", 0 }, { NULL, 0 }, { "x", 0 } };
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
             apr_pstrcat(pool, args, "&$skiptoken=",
                         ra_query_skiptoken(pool, &q, odd, TEST_TOKEN_KEY), NULL),
             &next);
    ck_assert_str_eq(next.after[0].text, "O'Brien \xc3\xa9\"");
}
END_TEST

/* A token continues only the query it was made for. */
START_TEST(skiptoken_bound_to_query)
{
    static const struct {
        const char *made_for, *used_with;
    } cases[] = {
        { "$filter=id eq 'a'", "$filter=id eq 'b'" },
        { "$filter=id eq 'a'", "" },
        { "", "$filter=id eq 'a'" },
        { "$orderby=displayName", "$orderby=displayName desc" },
        { "$orderby=displayName", "$orderby=onboardingUrl" },
        { "$orderby=displayName", "" },
        { "", "$orderby=id desc" },
        { "$orderby=displayName,onboardingUrl", "$orderby=onboardingUrl,displayName" },
    };
    const ra_key_value_t values[] = { { "v1", 0 }, { "v2", 0 }, { "v3", 0 } };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_query_t q;
        parse_ok(RA_VERSION_V1, RA_QUERY_LIST, cases[i].made_for, &q);
        const char *token = ra_query_skiptoken(pool, &q, values, TEST_TOKEN_KEY);
        /* the control: the query it was made for takes it */
        parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
                 apr_pstrcat(pool, cases[i].made_for, "&$skiptoken=", token, NULL), &q);
        ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                     apr_pstrcat(pool, cases[i].used_with, "&$skiptoken=", token,
                                                 NULL)), INVALID_SKIPTOKEN);
    }
    /* other values of the same option still continue the same position */
    ra_query_t q;
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "$top=5&$select=id", &q);
    const char *token = ra_query_skiptoken(pool, &q, values, TEST_TOKEN_KEY);
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, apr_pstrcat(pool, "$top=7&$skiptoken=", token, NULL),
             &q);
}
END_TEST

/* What is not a token this query could have made is refused, whatever its
 * form. */
START_TEST(skiptoken_tampered)
{
    ra_query_t q;
    static const char args[] = "$orderby=displayName,lastConnectionDateTime";
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, args, &q);
    const ra_key_value_t values[] = { { "name", 0 }, { NULL, 42 }, { "id-1", 0 } };
    const char *token = ra_query_skiptoken(pool, &q, values, TEST_TOKEN_KEY);
    json_t *doc = token_json(token);
    ck_assert_uint_eq(json_array_size(doc), 4); /* the query's digest, then the keys */
    const char *digest = apr_pstrdup(pool, json_string_value(json_array_get(doc, 0)));
    json_decref(doc);
    const char *const forged[] = {
        "", "!!!!", "AAAA", token_of(json_string("x")), token_of(json_array()),
        token_of(json_pack("{s:s}", "a", digest)),
        /* right digest, wrong keys */
        token_of(json_pack("[s, s, I]", digest, "name", (json_int_t)42)),
        token_of(json_pack("[s, s, I, s, s]", digest, "name", (json_int_t)42, "id-1", "x")),
        token_of(json_pack("[s, s, s, s]", digest, "name", "42", "id-1")),   /* ticks as text */
        token_of(json_pack("[s, s, f, s]", digest, "name", 4.2, "id-1")),
        token_of(json_pack("[s, s, n, s]", digest, "name", "id-1")),         /* null ticks */
        token_of(json_pack("[s, s, I, n]", digest, "name", (json_int_t)42)), /* null id */
        token_of(json_pack("[s, i, I, s]", digest, 5, (json_int_t)42, "id-1")),
        token_of(json_pack("[s, s, I, i]", digest, "name", (json_int_t)42, 7)),
        token_of(json_pack("[s, s, I, s]", "00000000", "name", (json_int_t)42, "id-1")),
        token_of(json_pack("[i, s, I, s]", 0, "name", (json_int_t)42, "id-1")),
    };
    for (size_t i = 0; i < COUNT_OF(forged); i++) {
        ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                     apr_pstrcat(pool, args, "&$skiptoken=", forged[i], NULL)),
                         INVALID_SKIPTOKEN);
    }
    /* the control: the same form with valid keys, a nullable one null */
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
             apr_pstrcat(pool, args, "&$skiptoken=",
                         token_of(json_pack("[s, n, I, s]", digest, (json_int_t)7, "id-2")),
                         NULL), &q);
    ck_assert_ptr_null(q.after[0].text);
    ck_assert_int_eq(q.after[1].ticks, 7);
    ck_assert_str_eq(q.after[2].text, "id-2");
    ck_assert(ra_query_skiptoken_verify(&q, TEST_TOKEN_KEY));

    /* a token of the id alone (a long id) signs the query's digest with it */
    const char *own = apr_pstrcat(pool, digest, "\n", "id-3", NULL);
    const char *const bad_ids[] = { "bad id!", apr_psprintf(pool, "%0129d", 1), "id-3\n" };
    for (size_t i = 0; i < COUNT_OF(bad_ids); i++) {
        ck_assert_str_eq(parse_error(RA_VERSION_V1, RA_QUERY_LIST,
                                     apr_pstrcat(pool, args, "&$skiptoken=",
                                                 token_raw(bad_ids[i], bad_ids[i], TEST_TOKEN_KEY),
                                                 NULL)), INVALID_SKIPTOKEN);
    }
    const struct {
        const char *signed_text;
        int verifies;
    } id_alone[] = { { own, 1 }, { "id-3", 0 }, { apr_pstrcat(pool, "00000000\nid-3", NULL), 0 } };
    for (size_t i = 0; i < COUNT_OF(id_alone); i++) {
        parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
                 apr_pstrcat(pool, args, "&$skiptoken=",
                             token_raw("id-3", id_alone[i].signed_text, TEST_TOKEN_KEY), NULL),
                 &q);
        ck_assert_int_eq(q.after_reread, 1);
        ck_assert_str_eq(q.after[2].text, "id-3");
        ck_assert_int_eq(ra_query_skiptoken_verify(&q, TEST_TOKEN_KEY), id_alone[i].verifies);
    }
}
END_TEST

/* Every character of a token, changed to any other base64url character,
 * gives a token the parser or the signature refuses; a token of another
 * key (another deployment's database) is refused too. */
START_TEST(skiptoken_signed)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_";
    static const char args[] = "$orderby=displayName,lastConnectionDateTime";
    /* a token of keys, and one of the id alone (128 characters) */
    const char *const ids[] = { "id-1", apr_psprintf(pool, "%0128d", 7) };
    for (size_t form = 0; form < COUNT_OF(ids); form++) {
        const ra_key_value_t values[] = { { "name", 0 }, { NULL, 42 }, { ids[form], 0 } };
        ra_query_t q;
        parse_ok(RA_VERSION_V1, RA_QUERY_LIST, args, &q);
        const char *token = ra_query_skiptoken(pool, &q, values, TEST_TOKEN_KEY);

        parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
                 apr_pstrcat(pool, args, "&$skiptoken=", token, NULL), &q);
        ck_assert(ra_query_skiptoken_verify(&q, TEST_TOKEN_KEY));
        ck_assert_int_eq(q.after_reread, (int)form); /* the long id's token holds it alone */
        ck_assert(!ra_query_skiptoken_verify(&q, "another deployment's key, 32 bytes"));
        ck_assert(!ra_query_skiptoken_verify(&q, ""));

        size_t tried = 0;
        for (size_t i = 0; token[i]; i++) {
            for (const char *c = alphabet; *c; c++) {
                if (*c == token[i]) {
                    continue;
                }
                char *changed = apr_pstrdup(pool, token);
                changed[i] = *c;
                const char *message = NULL;
                int parsed = ra_query_parse(pool, RA_VERSION_V1, RA_QUERY_LIST,
                                            apr_pstrcat(pool, args, "&$skiptoken=", changed, NULL),
                                            &q, &message);
                ck_assert_msg(!parsed || !ra_query_skiptoken_verify(&q, TEST_TOKEN_KEY),
                              "position %lu changed to %c is accepted", (unsigned long)i, *c);
                tried++;
            }
        }
        ck_assert_uint_eq(tried, strlen(token) * 63);
        /* a token cut short or lengthened */
        const char *cut = apr_pstrndup(pool, token, strlen(token) - 1);
        const char *longer = apr_pstrcat(pool, token, "A", NULL);
        for (int k = 0; k < 2; k++) {
            const char *message = NULL;
            int parsed = ra_query_parse(pool, RA_VERSION_V1, RA_QUERY_LIST,
                                        apr_pstrcat(pool, args, "&$skiptoken=", k ? longer : cut,
                                                    NULL), &q, &message);
            ck_assert(!parsed || !ra_query_skiptoken_verify(&q, TEST_TOKEN_KEY));
        }
    }
}
END_TEST

/* Whatever the sort keys hold, a token stays within its bound: keys past
 * RA_QUERY_TOKEN_INLINE bytes are left to be read again from the id's row
 * (after_reread), and the id is always there. */
START_TEST(skiptoken_bounded)
{
    static const char args[] = "$orderby=displayName,onboardingUrl desc,onboardingStatus,"
                               "lastConnectionDateTime,onboardingRequestExpiryDateTime";
    const char *emoji = "";
    for (int i = 0; i < 2048; i++) {
        emoji = apr_pstrcat(pool, emoji, "\xf0\x9f\x98\x80", NULL);
    }
    const char *guid = "0f8fad5b-d9cb-469f-a165-70867728950e";
    char *longest = apr_pstrdup(pool, guid);
    while (strlen(longest) < 128) {
        longest = apr_pstrcat(pool, longest, "x", NULL);
    }
    longest[128] = '\0';
    const struct {
        const char *id;
        size_t max;
    } ids[] = { { guid, 194 }, { longest, 192 } };
    ck_assert_int_le(RA_QUERY_TOKEN_MAX, 200); /* the fixed size */
    ra_query_t q, next;
    parse_ok(RA_VERSION_BETA, RA_QUERY_LIST, args, &q);
    ck_assert_int_eq(q.order_count, 6);
    for (size_t k = 0; k < COUNT_OF(ids); k++) {
        const ra_key_value_t values[] = { { emoji, 0 }, { emoji, 0 }, { "notOnboarded", 0 },
                                          { NULL, INT64_MIN }, { NULL, INT64_MIN },
                                          { ids[k].id, 0 } };
        const char *token = ra_query_skiptoken(pool, &q, values, TEST_TOKEN_KEY);
        ck_assert_msg(strlen(token) <= ids[k].max, "%lu > %lu", (unsigned long)strlen(token),
                      (unsigned long)ids[k].max);
        parse_ok(RA_VERSION_BETA, RA_QUERY_LIST,
                 apr_pstrcat(pool, args, "&$skiptoken=", token, NULL), &next);
        ck_assert(ra_query_skiptoken_verify(&next, TEST_TOKEN_KEY));
        ck_assert_int_eq(next.after_reread, 1);
        ck_assert_str_eq(next.after[5].text, ids[k].id);
    }
    /* short keys are all kept: no row to read again */
    const ra_key_value_t small[] = { { "a", 0 }, { "b", 0 }, { "onboarded", 0 }, { NULL, 1 },
                                     { NULL, 2 }, { guid, 0 } };
    parse_ok(RA_VERSION_BETA, RA_QUERY_LIST,
             apr_pstrcat(pool, args, "&$skiptoken=",
                         ra_query_skiptoken(pool, &q, small, TEST_TOKEN_KEY), NULL), &next);
    ck_assert_int_eq(next.after_reread, 0);
    ck_assert_str_eq(next.after[1].text, "b");
    ck_assert_int_eq(next.after[4].ticks, 2);
}
END_TEST

START_TEST(next_args)
{
    ra_query_t q, next;
    const ra_key_value_t values[] = { { "a", 0 }, { "b", 0 } };

    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, NULL, &q);
    const char *token = ra_query_skiptoken(pool, &q, values, TEST_TOKEN_KEY);
    ck_assert_str_eq(ra_query_next_args(pool, &q, token),
                     apr_pstrcat(pool, "$skiptoken=", token, NULL));

    /* every option but $skip (the token continues after it), as the request
     * spelt it (only a byte no request line holds raw, here a space, is
     * escaped) */
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST,
             "$count=true&$skip=10&$top=5&$select=id,displayName&$orderby=displayName+desc"
             "&$filter=displayName eq 'a%26b=c' or startswith(id,'x+y')&custom=1", &q);
    token = ra_query_skiptoken(pool, &q, values, TEST_TOKEN_KEY);
    const char *args = ra_query_next_args(pool, &q, token);
    ck_assert_str_eq(args, apr_pstrcat(pool, "$filter=displayName%20eq%20'a%26b=c'%20or%20"
                                             "startswith(id,'x+y')"
                                             "&$orderby=displayName+desc"
                                             "&$select=id,displayName&$top=5&$count=true"
                                             "&$skiptoken=", token, NULL));
    /* and it reads back as the same query, after the token's row */
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, args, &next);
    ck_assert_str_eq(tree(next.filter), tree(q.filter));
    ck_assert_str_eq(next.filter_text, q.filter_text);
    ck_assert_str_eq(order(&next), "displayName desc,id asc");
    ck_assert_uint_eq(next.select, q.select);
    ck_assert_int_eq(next.top, 5);
    ck_assert_int_eq(next.skip, -1);
    ck_assert_int_eq(next.count, 1);
    ck_assert_int_eq(next.after_set, 1);
    ck_assert_str_eq(next.after[0].text, "a");
    ck_assert_str_eq(next.after[1].text, "b");

    /* $count=false and an absent $top are left out */
    parse_ok(RA_VERSION_V1, RA_QUERY_LIST, "$count=false&$orderby=id", &q);
    token = ra_query_skiptoken(pool, &q, values, TEST_TOKEN_KEY);
    ck_assert_str_eq(ra_query_next_args(pool, &q, token),
                     apr_pstrcat(pool, "$orderby=id&$skiptoken=", token, NULL));
}
END_TEST

Suite *query_suite(void)
{
    Suite *s = suite_create("query");
    TCase *tc = pool_tcase(s, "filter");
    tcase_add_test(tc, filter_trees);
    tcase_add_test(tc, filter_datetime_ticks);
    tcase_add_test(tc, filter_errors);
    tcase_add_test(tc, filter_length_limit);
    tcase_add_test(tc, filter_node_limit);
    tcase_add_test(tc, filter_depth_limit);

    tc = pool_tcase(s, "options");
    tcase_add_test(tc, orderby);
    tcase_add_test(tc, orderby_errors);
    tcase_add_test(tc, select_option);
    tcase_add_test(tc, top_and_skip);
    tcase_add_test(tc, count_option);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, option_targets);
    tcase_add_test(tc, option_names);
    tcase_add_test(tc, in_operator);
    tcase_add_test(tc, parameter_aliases);
    tcase_add_test(tc, enum_comparisons);
    tcase_add_test(tc, beta_without_dollar);
    tcase_add_test(tc, format_option);
    tcase_add_test(tc, percent_decoding);

    tc = pool_tcase(s, "skiptoken");
    /* skiptoken_signed parses and verifies some 24,000 changed tokens: a
     * second here, past Check's 4 s default under TSan on a loaded machine */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, skiptoken_round_trip);
    tcase_add_test(tc, skiptoken_bound_to_query);
    tcase_add_test(tc, skiptoken_tampered);
    tcase_add_test(tc, skiptoken_signed);
    tcase_add_test(tc, skiptoken_bounded);
    tcase_add_test(tc, next_args);
    return s;
}
