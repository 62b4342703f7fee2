/* ra_batch: the $batch body accepted or refused as a whole (each refusal
 * naming its problem), the run order dependsOn gives, inner urls resolved
 * below the version root or refused, and the responses' JSON. */
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>

#include "ra_batch.h"
#include "suites.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define GET(id) "{\"id\":\"" id "\",\"method\":\"GET\",\"url\":\"/x\"}"
#define GET_AFTER(id, deps) "{\"id\":\"" id "\",\"method\":\"GET\",\"url\":\"/x\"," \
                            "\"dependsOn\":[" deps "]}"

static int parse(const char *body, ra_batch_t *batch, const char **message)
{
    return ra_batch_parse(pool, body, strlen(body), batch, message);
}

/* 21 GETs with ids "0".."20" */
static const char *too_many(void)
{
    const char *body = "{\"requests\":[";
    for (int i = 0; i <= RA_BATCH_MAX_REQUESTS; i++) {
        body = apr_psprintf(pool, "%s%s{\"id\":\"%d\",\"method\":\"GET\",\"url\":\"/x\"}", body,
                            i ? "," : "", i);
    }
    return apr_pstrcat(pool, body, "]}", NULL);
}

static const struct {
    const char *body;
    const char *needle;     /* in the message */
} refused[] = {
    { "", "Empty Payload" },
    { "{", "Invalid JSON" },
    { "[]", "JSON object" },
    { "{\"requests\":{}}", "non-empty array" },
    { "{\"requests\":[]}", "non-empty array" },
    { "{\"requests\":[" GET("1") "],\"x\":1}", "'x'" },
    { "{\"requests\":[" GET("1") "," GET("1") "]}", "id '1'" },
    { "{\"requests\":[1]}", "requests[0] must be a JSON object" },
    { "{\"requests\":[{\"method\":\"GET\",\"url\":\"/x\"}]}", "requests[0] must have an id" },
    { "{\"requests\":[{\"id\":\"\",\"method\":\"GET\",\"url\":\"/x\"}]}", "must have an id" },
    { "{\"requests\":[{\"id\":\"a\\u0000b\",\"method\":\"GET\",\"url\":\"/x\"}]}",
      "Invalid JSON" },
    { "{\"requests\":[{\"id\":\"1\",\"url\":\"/x\"}]}", "method and a url" },
    { "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\"}]}", "method and a url" },
    { "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"\"}]}", "url of request '1'" },
    { "{\"requests\":[{\"id\":\"1\",\"method\":\"OPTIONS\",\"url\":\"/x\"}]}", "method of" },
    { "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/x\",\"y\":1}]}", "'y'" },
    { "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/$batch\"}]}", "$batch" },
    { "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"a/%24Batch?x\"}]}", "$batch" },
    { "{\"requests\":[{\"id\":\"1\",\"method\":\"POST\",\"url\":\"/x\",\"body\":{}}]}",
      "Content-Type" },
    { "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/x\",\"headers\":[]}]}",
      "headers of request '1'" },
    { "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/x\","
      "\"headers\":{\"A\":1}}]}", "header 'A'" },
    { "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/x\","
      "\"headers\":{\"A B\":\"v\"}}]}", "header 'A B'" },
    { "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/x\","
      "\"headers\":{\"A\":\"v\\nX: y\"}}]}", "header 'A'" },
    { "{\"requests\":[" GET_AFTER("1", "\"2\"") "]}", "'2', which is no request" },
    { "{\"requests\":[" GET_AFTER("1", "1") "]}", "not a string" },
    { "{\"requests\":[" GET_AFTER("1", "\"1\"") "]}", "itself" },
    { "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/x\",\"dependsOn\":\"2\"}]}",
      "array of request ids" },
    { "{\"requests\":[" GET_AFTER("1", "\"3\"") "," GET("2") "," GET_AFTER("3", "\"1\"") "]}",
      "'1', '3' form a cycle" },
};

START_TEST(test_a_bad_batch_is_refused_naming_the_problem)
{
    ra_batch_t batch;
    const char *message = NULL;
    ck_assert_msg(!parse(refused[_i].body, &batch, &message), "%s: accepted",
                  refused[_i].body);
    ck_assert_msg(message && strstr(message, refused[_i].needle), "%s: \"%s\" lacks \"%s\"",
                  refused[_i].body, message ? message : "(null)", refused[_i].needle);
}
END_TEST

START_TEST(test_twenty_requests_pass_and_twenty_one_do_not)
{
    ra_batch_t batch;
    const char *message;
    const char *body = too_many();
    ck_assert(!parse(body, &batch, &message));
    ck_assert_str_eq(message, "The batch has 21 requests; at most 20 are allowed.");
    /* the same without its last request */
    char *twenty = apr_pstrdup(pool, body);
    strcpy(strstr(twenty, ",{\"id\":\"20\""), "]}");
    ck_assert_msg(parse(twenty, &batch, &message), "%s", message);
    ck_assert_int_eq(batch.count, RA_BATCH_MAX_REQUESTS);
}
END_TEST

/* dependsOn as Graph documents it (parallel, serial, single) and beyond:
 * the order runs dependencies first, otherwise in the order sent. */
static const struct {
    const char *body;
    int order[4];
} orders[] = {
    { "{\"requests\":[" GET("a") "," GET("b") "," GET("c") "]}", { 0, 1, 2 } },
    { "{\"requests\":[" GET("a") "," GET_AFTER("b", "\"a\"") "," GET_AFTER("c", "\"b\"") "]}",
      { 0, 1, 2 } },
    { "{\"requests\":[" GET_AFTER("a", "\"c\"") "," GET_AFTER("b", "\"a\"") "," GET("c") "]}",
      { 2, 0, 1 } },
    { "{\"requests\":[" GET_AFTER("a", "\"b\",\"d\"") "," GET("b") "," GET_AFTER("c", "\"a\"")
      "," GET_AFTER("d", "\"b\",\"b\"") "]}", { 1, 3, 0, 2 } },
};

START_TEST(test_depends_on_orders_the_run)
{
    ra_batch_t batch;
    const char *message;
    ck_assert_msg(parse(orders[_i].body, &batch, &message), "%s", message);
    for (int n = 0; n < batch.count; n++) {
        ck_assert_int_eq(batch.order[n], orders[_i].order[n]);
    }
}
END_TEST

START_TEST(test_a_request_keeps_its_parts)
{
    ra_batch_t batch;
    const char *message;
    ck_assert_msg(parse("{\"requests\":[" GET("0") ",{\"id\":\"x\",\"method\":\"patch\","
                        "\"url\":\"deviceManagement/a('1')\",\"headers\":{\"content-type\":"
                        "\"application/json\",\"If-Match\":\"*\"},\"body\":{\"a\": [1, \"\\u00e9\"]},"
                        "\"dependsOn\":[\"0\"]}]}", &batch, &message), "%s", message);
    const ra_batch_request_t *r = &batch.requests[1];
    ck_assert_str_eq(r->id, "x");
    ck_assert_str_eq(r->method, "PATCH");
    ck_assert_str_eq(r->url, "deviceManagement/a('1')");
    ck_assert_str_eq(ra_batch_header(r, "Content-Type"), "application/json");
    ck_assert_str_eq(ra_batch_header(r, "if-match"), "*");
    ck_assert_ptr_null(ra_batch_header(r, "Accept"));
    ck_assert_str_eq(r->body, "{\"a\":[1,\"\xc3\xa9\"]}");
    ck_assert_int_eq(r->body_len, strlen(r->body));
    ck_assert_int_eq(r->depends_count, 1);
    ck_assert_int_eq(r->depends_on[0], 0);
    ck_assert_ptr_null(batch.requests[0].body);
    /* a body that is not an object is kept as JSON all the same */
    ck_assert(parse("{\"requests\":[{\"id\":\"1\",\"method\":\"POST\",\"url\":\"/x\","
                    "\"headers\":{\"Content-Type\":\"application/json\"},\"body\":\"s\"}]}",
                    &batch, &message));
    ck_assert_str_eq(batch.requests[0].body, "\"s\"");
}
END_TEST

static const struct {
    const char *url;
    const char *path;       /* NULL: refused */
} urls[] = {
    { "/deviceManagement/x", "/v1.0/deviceManagement/x" },
    { "deviceManagement/x", "/v1.0/deviceManagement/x" },
    { "/v1.0/deviceManagement/x", "/v1.0/deviceManagement/x" },
    { "/v1.0?x", "/v1.0?x" },
    { "/v1.00/x", "/v1.0/v1.00/x" },
    { "/v1.0/../x", NULL },
    { "/x?$filter=id eq 'a b'", "/v1.0/x?$filter=id%20eq%20'a%20b'" },
    { "/x?a=/../b", "/v1.0/x?a=/../b" },
    { "/a..b/.c", "/v1.0/a..b/.c" },
    { "http://evil.example/x", NULL },
    { "urn:x", NULL },
    { "HTTPS://evil.example", NULL },
    { "//evil.example/x", NULL },
    { "/../beta/x", NULL },
    { "/x/..", NULL },
    { "./x", NULL },
    { "/%2e%2E/x", NULL },
    { "/.%2e/x", NULL },
    { "/x\\..\\y", NULL },
    { "/x#frag", NULL },
    { "/x\ty", NULL },
    { "/x\r\nHost: y", NULL },
};

START_TEST(test_an_inner_url_stays_below_the_version_root)
{
    const char *message = NULL;
    const char *path = ra_batch_url_path(pool, "/v1.0", urls[_i].url, &message);
    if (urls[_i].path) {
        ck_assert_msg(path && !strcmp(path, urls[_i].path), "%s: %s", urls[_i].url,
                      path ? path : message);
    }
    else {
        ck_assert_msg(!path && message, "%s: accepted as %s", urls[_i].url, path);
    }
}
END_TEST

START_TEST(test_responses_embed_json_bodies_and_spell_content_type)
{
    ra_batch_header_t headers[] = { { "Location", "http://h/x" } };
    ra_batch_response_t responses[] = {
        { "1", 201, headers, 1, "application/json;odata.metadata=minimal", "{\"id\":\"x\"}", 10 },
        { "2", 200, NULL, 0, "text/plain;charset=utf-8", "5", 1 },
        { "3", 204, NULL, 0, NULL, NULL, 0 },
    };
    ra_jw_text_t text = { .pool = pool };
    ra_jw_t jw;
    ra_jw_init(&jw, ra_jw_text_sink, &text);
    ra_batch_write_responses(&jw, pool, responses, 3);
    ck_assert_int_eq(ra_jw_finish(&jw), APR_SUCCESS);
    ck_assert_int_eq(text.len, strlen(text.text));
    ck_assert_str_eq(text.text,
                     "{\"responses\":["
                     "{\"id\":\"1\",\"status\":201,\"headers\":{\"Location\":\"http://h/x\","
                     "\"Content-Type\":\"application/json;odata.metadata=minimal\"},"
                     "\"body\":{\"id\":\"x\"}},"
                     "{\"id\":\"2\",\"status\":200,\"headers\":{\"Content-Type\":"
                     "\"text/plain;charset=utf-8\"},\"body\":\"5\"},"
                     "{\"id\":\"3\",\"status\":204,\"headers\":{}}]}");
}
END_TEST

Suite *batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = pool_tcase(s, "parse");
    tcase_add_loop_test(tc, test_a_bad_batch_is_refused_naming_the_problem, 0,
                        (int)COUNT_OF(refused));
    tcase_add_test(tc, test_twenty_requests_pass_and_twenty_one_do_not);
    tcase_add_loop_test(tc, test_depends_on_orders_the_run, 0, (int)COUNT_OF(orders));
    tcase_add_test(tc, test_a_request_keeps_its_parts);
    tc = pool_tcase(s, "urls");
    tcase_add_loop_test(tc, test_an_inner_url_stays_below_the_version_root, 0,
                        (int)COUNT_OF(urls));
    tc = pool_tcase(s, "responses");
    tcase_add_test(tc, test_responses_embed_json_bodies_and_spell_content_type);
    return s;
}
