/* libFuzzer target: the streaming JSON writer against jansson. The first
 * byte chooses what the rest is:
 *   'J': a JSON text; when jansson parses it (any value, NUL allowed), the
 *        writer's text of the tree (ra_jw_json) must be jansson's compact
 *        text (jw_oracle.h) and parse back to an equal value;
 *   anything else: raw bytes written as a string value and as a member name.
 *        When jansson takes them as UTF-8 the text is jansson's and nothing
 *        is replaced, and the string written in two pieces (cut at a
 *        character boundary) is the same text; when not, the output still
 *        parses, and each replaced byte became the 3 bytes of U+FFFD. */
#include <string.h>

#include <apr_pools.h>
#include <jansson.h>

#include "fuzz.h"
#include "jw_oracle.h"
#include "ra_json_writer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_apr_init();
    return 0;
}

typedef void (*write_fn)(ra_jw_t *jw, const char *s, size_t len, size_t cut);

/* The writer's text of what write wrote; *replaced its count. */
static ra_jw_text_t written(apr_pool_t *pool, write_fn write, const char *s, size_t len,
                            size_t cut, apr_size_t *replaced)
{
    ra_jw_t jw;
    ra_jw_text_t text = { pool, NULL, 0, 0 };
    ra_jw_init(&jw, ra_jw_text_sink, &text);
    write(&jw, s, len, cut);
    FUZZ_EXPECT(ra_jw_finish(&jw) == APR_SUCCESS);
    FUZZ_EXPECT(jw.written == text.len);
    *replaced = jw.replaced;
    return text;
}

static void as_tree(ra_jw_t *jw, const char *s, size_t len, size_t cut)
{
    (void)cut;
    json_t *tree = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    ra_jw_json(jw, tree);
    json_decref(tree);
}

static void as_value(ra_jw_t *jw, const char *s, size_t len, size_t cut)
{
    (void)cut;
    ra_jw_stringn(jw, s, len);
}

static void as_pieces(ra_jw_t *jw, const char *s, size_t len, size_t cut)
{
    ra_jw_string_open(jw);
    ra_jw_string_append(jw, s, cut);
    ra_jw_string_append(jw, s + cut, len - cut);
    ra_jw_string_close(jw);
}

static void as_name(ra_jw_t *jw, const char *s, size_t len, size_t cut)
{
    (void)cut;
    ra_jw_object_open(jw);
    ra_jw_namen(jw, s, len);
    ra_jw_integer(jw, (apr_int64_t)len);
    ra_jw_object_close(jw);
}

/* How many objects and arrays nest in value (jansson reads up to 2048). */
static int depth_of(const json_t *value)
{
    const char *name;
    json_t *member;
    size_t i;
    int deepest = 0;

    if (json_is_object(value)) {
        json_object_foreach((json_t *)value, name, member) {
            int d = depth_of(member);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    if (json_is_array(value)) {
        json_array_foreach(value, i, member) {
            int d = depth_of(member);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    return 0;
}

static void check_tree(apr_pool_t *pool, const char *s, size_t len)
{
    json_t *tree = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    apr_size_t replaced;
    if (!tree) {
        return;
    }
    if (depth_of(tree) > RA_JW_MAX_DEPTH) { /* the writer's documented refusal */
        ra_jw_t jw;
        ra_jw_text_t text = { pool, NULL, 0, 0 };
        ra_jw_init(&jw, ra_jw_text_sink, &text);
        ra_jw_json(&jw, tree);
        FUZZ_EXPECT(ra_jw_finish(&jw) == APR_EINVAL);
        json_decref(tree);
        return;
    }
    char *expected = jw_oracle(tree);
    ra_jw_text_t text = written(pool, as_tree, s, len, 0, &replaced);
    FUZZ_EXPECT(expected && !strcmp(text.text, expected) && replaced == 0);
    json_t *back = json_loadb(text.text, text.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    FUZZ_EXPECT(back && json_equal(back, tree));
    json_decref(back);
    free(expected);
    json_decref(tree);
}

static void check_string(apr_pool_t *pool, const char *s, size_t len)
{
    json_t *string = json_stringn(s, len);
    apr_size_t replaced, name_replaced;
    ra_jw_text_t text = written(pool, as_value, s, len, 0, &replaced);
    ra_jw_text_t name = written(pool, as_name, s, len, 0, &name_replaced);
    json_t *back = json_loadb(text.text, text.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *object = json_loadb(name.text, name.len, JSON_ALLOW_NUL, NULL);

    /* jansson reads no NUL in a member name, even with JSON_ALLOW_NUL */
    int nul = memchr(s, '\0', len) != NULL;
    FUZZ_EXPECT(back && json_is_string(back));
    FUZZ_EXPECT(nul || (object && json_object_size(object) == 1));

    FUZZ_EXPECT(replaced == name_replaced);
    FUZZ_EXPECT(json_string_length(back) == len + 2 * replaced);
    if (string) {
        char *expected = jw_oracle(string);
        FUZZ_EXPECT(expected && !strcmp(text.text, expected) && replaced == 0);
        FUZZ_EXPECT(json_equal(back, string));
        json_t *named = json_object();
        json_object_setn_new(named, s, len, json_integer((json_int_t)len));
        char *expected_name = jw_oracle(named);
        FUZZ_EXPECT(expected_name && !strcmp(name.text, expected_name));
        free(expected_name);
        json_decref(named);
        size_t cut = len / 2;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) {
            cut--;
        }
        ra_jw_text_t pieces = written(pool, as_pieces, s, len, cut, &replaced);
        FUZZ_EXPECT(!strcmp(pieces.text, text.text) && replaced == 0);
        free(expected);
    }
    else {
        FUZZ_EXPECT(replaced > 0);
    }
    json_decref(object);
    json_decref(back);
    json_decref(string);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *pool;

    if (size == 0) {
        return 0;
    }
    /* an allocation of exactly the input, so ASan sees overreads */
    char *s = malloc(size - 1 ? size - 1 : 1);
    memcpy(s, data + 1, size - 1);
    FUZZ_EXPECT(apr_pool_create(&pool, NULL) == APR_SUCCESS);
    if (data[0] == 'J') {
        check_tree(pool, s, size - 1);
    }
    else {
        check_string(pool, s, size - 1);
    }
    apr_pool_destroy(pool);
    free(s);
    return 0;
}
