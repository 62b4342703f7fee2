/* Unit tests for src/ra_json_writer.c. The oracle is jansson: every value the
 * writer writes must come out as json_dumps(JSON_COMPACT) writes it (U+2028
 * and U+2029 escaped, the one intended difference). */
#include <string.h>

#include <apr_strings.h>
#include <jansson.h>

#include "../fuzz/jw_oracle.h"

#include "ra_json_writer.h"
#include "suites.h"

/* jansson's text of value, as the writer must write it, in the pool */
static char *oracle(const json_t *value)
{
    char *text = jw_oracle(value);
    ck_assert_ptr_nonnull(text);
    char *copy = apr_pstrdup(pool, text);
    free(text);
    return copy;
}

static void writer(ra_jw_t *jw, ra_jw_text_t *text)
{
    memset(text, 0, sizeof(*text));
    text->pool = pool;
    ra_jw_init(jw, ra_jw_text_sink, text);
}

/* The writer's text of value (through ra_jw_json, the tree walk) */
static const char *written(const json_t *value)
{
    ra_jw_t jw;
    ra_jw_text_t text;
    writer(&jw, &text);
    ra_jw_json(&jw, value);
    ck_assert_int_eq(ra_jw_finish(&jw), APR_SUCCESS);
    ck_assert_int_eq(jw.replaced, 0);
    ck_assert_uint_eq(jw.written, text.len);
    return text.text;
}

static void same_as_jansson(json_t *value)
{
    ck_assert_ptr_nonnull(value);
    const char *ours = written(value), *theirs = oracle(value);
    if (strlen(theirs) < 1000) { /* Check's messages hold no more */
        ck_assert_str_eq(ours, theirs);
    }
    ck_assert_msg(!strcmp(ours, theirs), "differs from jansson");
    json_decref(value);
}

/* Every JSON type and every property type the service writes: Edm.String,
 * an enum member, Edm.DateTimeOffset (strings), Edm.Int64 (@odata.count),
 * Edm.Boolean, Edm.Double, null, nested objects and arrays (an audit
 * event's actor, resources, modifiedProperties). */
START_TEST(test_every_type)
{
    same_as_jansson(json_string("Contoso"));
    same_as_jansson(json_string(""));
    same_as_jansson(json_null());
    same_as_jansson(json_true());
    same_as_jansson(json_false());
    const json_int_t ints[] = { 0, 1, -1, 42, 2147483648LL, INT64_MAX, INT64_MIN };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        same_as_jansson(json_integer(ints[i]));
    }
    const double reals[] = { 0.0, -0.0, 1.0, -1.5, 0.1, 1e300, 1e-300, 123456789012345678.0,
                             3.141592653589793, 5e-324, 1.7976931348623157e308 };
    for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
        same_as_jansson(json_real(reals[i]));
    }
    same_as_jansson(json_object());
    same_as_jansson(json_array());
    same_as_jansson(json_pack("{s:s, s:s, s:s, s:s, s:n, s:I, s:b, s:f}",
                              "id", "p1", "onboardingStatus", "onboarded",
                              "lastConnectionDateTime", "2024-01-02T03:04:05.1234567Z",
                              "displayName", "Contoso \"Remote\"", "onboardingUrl",
                              "@odata.count", (json_int_t)100000, "enabled", 1, "ratio", 0.25));
    same_as_jansson(json_pack("{s:s, s:{s:{s:s, s:s}}, s:[{s:s, s:[{s:s, s:s, s:s}]}, {}], "
                              "s:[[], [[]], {}, i, n]}",
                              "activityDisplayName", "Create partner",
                              "initiatedBy", "user", "id", "u1", "userPrincipalName", "a@b",
                              "targetResources", "id", "p1", "modifiedProperties",
                              "displayName", "displayName", "oldValue", "\"a\"",
                              "newValue", "\"b\"", "deep", 1));
}
END_TEST

/* Every ASCII character, alone and among others, as a value and as a
 * member name: control characters (\b \f \n \r \t short forms, the rest
 * \u00XX), the quote, the backslash, '/' (not escaped, as jansson), DEL. */
START_TEST(test_every_ascii_character)
{
    for (int c = 0; c < 0x80; c++) {
        char one[1] = { (char)c };
        char three[3] = { 'a', (char)c, 'z' };
        same_as_jansson(json_stringn(one, 1));
        same_as_jansson(json_stringn(three, 3));
        json_t *object = json_object();
        json_object_setn_new(object, three, 3, json_stringn(one, 1));
        same_as_jansson(object);
    }
}
END_TEST

/* The writer looks at plain text eight bytes at a time: every ASCII
 * character, and a 2-, 3- and 4-byte character and U+2028, at every offset
 * of a word, inside a run of plain text longer than two words. */
START_TEST(test_every_character_at_every_offset)
{
    static const char *const wide[] = { "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                                        "\xE2\x80\xA8", "\"\\" };
    char text[32];
    for (int offset = 0; offset <= 16; offset++) {
        for (int c = 0; c < 0x80; c++) {
            memset(text, 'a', 24);
            text[offset] = (char)c;
            same_as_jansson(json_stringn(text, 24));
        }
        for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
            size_t len = strlen(wide[i]);
            memset(text, 'a', 24 + len);
            memcpy(text + offset, wide[i], len);
            same_as_jansson(json_stringn(text, 24 + len));
        }
    }
}
END_TEST

/* Non-ASCII: 2-, 3- and 4-byte characters at each class's edges, the
 * astral plane, U+FEFF and U+FFFD are written as they are; U+2028 and
 * U+2029 escaped. */
START_TEST(test_non_ascii)
{
    static const char *const cases[] = {
        "\xC2\x80", "\xC3\xA9t\xC3\xA9", "\xDF\xBF", "\xE0\xA0\x80", "\xE2\x82\xAC",
        "\xED\x9F\xBF", "\xEE\x80\x80", "\xEF\xBB\xBF", "\xEF\xBF\xBD", "\xEF\xBF\xBF",
        "\xF0\x90\x80\x80", "\xF0\x9F\x98\x80 smile", "\xF4\x8F\xBF\xBF",
        "a\xE2\x80\xA8" "b\xE2\x80\xA9" "c", "\xE2\x80\xA7\xE2\x80\xAA",
        "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \"quoted\" \\ \n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        same_as_jansson(json_string(cases[i]));
    }
    json_t *separator = json_string("\xE2\x80\xA8");
    ck_assert_str_eq(written(separator), "\"\\u2028\"");
    json_decref(separator);
}
END_TEST

/* Invalid UTF-8 never reaches the writer from the module (jansson parsed
 * it, or the module made it); should it, each byte that is not part of a
 * valid sequence becomes U+FFFD, counted, and the output is still JSON. */
START_TEST(test_invalid_utf8)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
        apr_size_t replaced;
    } cases[] = {
        { "\x80", 1, "\xEF\xBF\xBD", 1 },                     /* lone continuation */
        { "a\xBFz", 3, "a\xEF\xBF\xBDz", 1 },
        { "\xC0\x80", 2, "\xEF\xBF\xBD\xEF\xBF\xBD", 2 },    /* overlong NUL */
        { "\xC1\xBF", 2, "\xEF\xBF\xBD\xEF\xBF\xBD", 2 },
        { "\xE0\x80\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 3 },   /* overlong */
        { "\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 3 },   /* surrogate */
        { "\xF4\x90\x80\x80", 4,
          "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 4 },          /* > U+10FFFF */
        { "\xF5", 1, "\xEF\xBF\xBD", 1 },
        { "\xFF", 1, "\xEF\xBF\xBD", 1 },
        { "ab\xE2\x82", 4, "ab\xEF\xBF\xBD\xEF\xBF\xBD", 2 },  /* cut at the end */
        { "\xE2\x82" "A", 3, "\xEF\xBF\xBD\xEF\xBF\xBD" "A", 2 }, /* cut before ASCII */
        { "\xF0\x9F\x98", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 3 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ra_jw_t jw;
        ra_jw_text_t text;
        json_t *rejected = json_stringn(cases[i].in, cases[i].len);
        ck_assert_msg(rejected == NULL, "case %zu is valid UTF-8 to jansson", i);

        writer(&jw, &text);
        ra_jw_stringn(&jw, cases[i].in, cases[i].len);
        ck_assert_int_eq(ra_jw_finish(&jw), APR_SUCCESS);
        ck_assert_uint_eq(jw.replaced, cases[i].replaced);
        json_t *expected = json_string(cases[i].out);
        ck_assert_str_eq(text.text, oracle(expected));
        json_decref(expected);
        json_t *back = json_loads(text.text, JSON_DECODE_ANY, NULL);
        ck_assert_ptr_nonnull(back);
        json_decref(back);
    }
}
END_TEST

/* A string written in pieces is the string written whole; NUL in a counted
 * string is \u0000. */
START_TEST(test_pieces)
{
    ra_jw_t jw;
    ra_jw_text_t text;
    writer(&jw, &text);
    ra_jw_object_open(&jw);
    ra_jw_name(&jw, "@odata.etag");
    ra_jw_string_open(&jw);
    ra_jw_string_append(&jw, "W/\"", 3);
    ra_jw_string_append(&jw, "0a1b", 4);
    ra_jw_string_append(&jw, "\"", 1);
    ra_jw_string_close(&jw);
    ra_jw_name(&jw, "nul");
    ra_jw_stringn(&jw, "a\0b", 3);
    ra_jw_object_close(&jw);
    ck_assert_int_eq(ra_jw_finish(&jw), APR_SUCCESS);
    ck_assert_str_eq(text.text, "{\"@odata.etag\":\"W/\\\"0a1b\\\"\",\"nul\":\"a\\u0000b\"}");
}
END_TEST

/* Annotations appear from their level up. */
START_TEST(test_metadata_levels)
{
    static const struct {
        ra_jw_metadata_e level;
        const char *out;
    } cases[] = {
        { RA_JW_METADATA_NONE, "{\"id\":\"p\"}" },
        { RA_JW_METADATA_MINIMAL, "{\"@odata.context\":\"c\",\"id\":\"p\"}" },
        { RA_JW_METADATA_FULL, "{\"@odata.context\":\"c\",\"@odata.id\":\"i\",\"id\":\"p\"}" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ra_jw_t jw;
        ra_jw_text_t text;
        writer(&jw, &text);
        jw.metadata = cases[i].level;
        ra_jw_object_open(&jw);
        ra_jw_annotation(&jw, RA_JW_METADATA_MINIMAL, "@odata.context", "c");
        ra_jw_annotation(&jw, RA_JW_METADATA_FULL, "@odata.id", "i");
        ra_jw_member_string(&jw, "id", "p");
        ra_jw_object_close(&jw);
        ck_assert_int_eq(ra_jw_finish(&jw), APR_SUCCESS);
        ck_assert_str_eq(text.text, cases[i].out);
    }
}
END_TEST

/* An inner body written by one writer goes whole into another's value. */
START_TEST(test_raw_inner_body)
{
    ra_jw_t inner, outer;
    ra_jw_text_t inner_text, outer_text;
    writer(&inner, &inner_text);
    ra_jw_object_open(&inner);
    ra_jw_member_string(&inner, "id", "p\n");
    ra_jw_object_close(&inner);
    ck_assert_int_eq(ra_jw_finish(&inner), APR_SUCCESS);

    writer(&outer, &outer_text);
    ra_jw_object_open(&outer);
    ra_jw_name(&outer, "responses");
    ra_jw_array_open(&outer);
    ra_jw_object_open(&outer);
    ra_jw_member_string(&outer, "id", "1");
    ra_jw_member_integer(&outer, "status", 201);
    ra_jw_name(&outer, "body");
    ra_jw_raw(&outer, inner_text.text, inner_text.len);
    ra_jw_object_close(&outer);
    ra_jw_array_close(&outer);
    ra_jw_object_close(&outer);
    ck_assert_int_eq(ra_jw_finish(&outer), APR_SUCCESS);
    json_t *expected = json_pack("{s:[{s:s, s:i, s:{s:s}}]}", "responses", "id", "1",
                                 "status", 201, "body", "id", "p\n");
    ck_assert_str_eq(outer_text.text, oracle(expected));
    json_decref(expected);
}
END_TEST

/* Misuse writes nothing more and fails the writer. */
typedef void (*steps_fn)(ra_jw_t *jw);
static void value_without_name(ra_jw_t *jw) { ra_jw_object_open(jw); ra_jw_null(jw); }
static void name_in_array(ra_jw_t *jw) { ra_jw_array_open(jw); ra_jw_name(jw, "a"); }
static void name_at_top(ra_jw_t *jw) { ra_jw_name(jw, "a"); }
static void dangling_name(ra_jw_t *jw)
{
    ra_jw_object_open(jw);
    ra_jw_name(jw, "a");
    ra_jw_object_close(jw);
}
static void crossed(ra_jw_t *jw) { ra_jw_object_open(jw); ra_jw_array_close(jw); }
static void close_nothing(ra_jw_t *jw) { ra_jw_object_close(jw); }
static void left_open(ra_jw_t *jw) { ra_jw_array_open(jw); }
static void two_tops(ra_jw_t *jw) { ra_jw_null(jw); ra_jw_null(jw); }
static void open_string(ra_jw_t *jw) { ra_jw_string_open(jw); }
static void value_in_string(ra_jw_t *jw) { ra_jw_string_open(jw); ra_jw_null(jw); }
static void append_outside(ra_jw_t *jw) { ra_jw_string_append(jw, "a", 1); }
static void not_a_number(ra_jw_t *jw) { ra_jw_real(jw, 0.0 / 0.0); }
static void too_deep(ra_jw_t *jw)
{
    for (int i = 0; i <= RA_JW_MAX_DEPTH; i++) {
        ra_jw_array_open(jw);
    }
}

START_TEST(test_misuse)
{
    static const steps_fn cases[] = {
        value_without_name, name_in_array, name_at_top, dangling_name, crossed,
        close_nothing, left_open, two_tops, open_string, value_in_string, append_outside,
        not_a_number, too_deep,
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ra_jw_t jw;
        ra_jw_text_t text;
        writer(&jw, &text);
        cases[i](&jw);
        ck_assert_msg(ra_jw_finish(&jw) == APR_EINVAL, "case %zu", i);
    }
}
END_TEST

/* Output much larger than the writer's buffer arrives whole and in order,
 * in several sink calls; the sink's first error stops the writer. */
static apr_status_t counting_sink(void *baton, const char *data, apr_size_t len)
{
    int *calls = baton;
    (void)data, (void)len;
    return ++*calls >= 3 ? APR_ENOSPC : APR_SUCCESS;
}

START_TEST(test_large_and_sink_errors)
{
    json_t *page = json_array();
    for (int i = 0; i < 500; i++) {
        json_array_append_new(page, json_pack("{s:i, s:s}", "n", i,
                                              "s", i % 2 ? "\"\\\x01\xE2\x80\xA8 long text" : ""));
    }
    char big[3 * RA_JW_BUFFER_SIZE];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_array_append_new(page, json_string(big));
    same_as_jansson(page);

    int calls = 0;
    ra_jw_t jw;
    ra_jw_init(&jw, counting_sink, &calls);
    ra_jw_array_open(&jw);
    for (int i = 0; i < 10000; i++) {
        ra_jw_string(&jw, "0123456789");
    }
    ra_jw_array_close(&jw);
    ck_assert_int_eq(ra_jw_finish(&jw), APR_ENOSPC);
    ck_assert_int_eq(calls, 3);
}
END_TEST

/* RA_JW_MAX_DEPTH levels of objects and arrays are written as jansson
 * writes them (one more is misuse, test_misuse's too_deep). */
START_TEST(test_deepest_nesting)
{
    json_t *value = json_integer(1);
    for (int i = 0; i < RA_JW_MAX_DEPTH; i++) {
        json_t *outer = i % 2 ? json_array() : json_object();
        if (i % 2) {
            json_array_append_new(outer, value);
        }
        else {
            json_object_set_new(outer, "a", value);
        }
        value = outer;
    }
    same_as_jansson(value);
}
END_TEST

Suite *json_writer_suite(void)
{
    Suite *s = suite_create("json_writer");
    TCase *tc = pool_tcase(s, "jansson oracle");
    tcase_add_test(tc, test_every_type);
    tcase_add_test(tc, test_every_ascii_character);
    tcase_add_test(tc, test_every_character_at_every_offset);
    tcase_add_test(tc, test_non_ascii);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_pieces);
    tcase_add_test(tc, test_metadata_levels);
    tcase_add_test(tc, test_raw_inner_body);
    tcase_add_test(tc, test_misuse);
    tcase_add_test(tc, test_deepest_nesting);
    tcase_add_test(tc, test_large_and_sink_errors);
    return s;
}
