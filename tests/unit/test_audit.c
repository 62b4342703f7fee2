/* ra_audit, and the audited writes of ra_store against a real SQLite file:
 * an event is written with its change, in its transaction, or neither is;
 * the audit events' queries come from the partners' query tree. */
#include <string.h>

#include <apr_escape.h>
#include <apr_strings.h>

#include "ra_audit.h"
#include "ra_sql.h"
#include "store_fixture.h"

static const ra_audit_actor_t user = { 0, "oid-1", "admin@contoso.com", "app-1", "192.0.2.1",
                                       "DeviceManagementServiceConfig.ReadWrite.All" };

static ra_audit_event_t *event_of(ra_audit_op_e op, const char *tenant,
                                  const ra_partner_t *before, const ra_partner_t *after)
{
    return ra_audit_event_make(pool, op, tenant, &user, "corr-1", apr_time_from_sec(1700000000),
                               before, after);
}

/* What write wrote of arg, as text. */
static const char *written(void (*write)(ra_jw_t *, const void *), const void *arg)
{
    ra_jw_text_t text = { .pool = pool };
    ra_jw_t jw;
    ra_jw_init(&jw, ra_jw_text_sink, &text);
    write(&jw, arg);
    ck_assert_int_eq(ra_jw_finish(&jw), APR_SUCCESS);
    return text.text;
}

static void categories(ra_jw_t *jw, const void *arg)
{
    (void)arg;
    ra_audit_categories_write(jw);
}

static void activity_types(ra_jw_t *jw, const void *arg)
{
    (void)arg;
    ra_audit_activity_types_write(jw);
}

static void event_in_context(ra_jw_t *jw, const void *event)
{
    ra_audit_event_write(jw, event, "ctx");
}

static void event_alone(ra_jw_t *jw, const void *event)
{
    ra_audit_event_write(jw, event, NULL);
}

/* The writer's text, parsed back (jansson stays the parser). */
static json_t *parsed(const char *text)
{
    json_t *json = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(json);
    return json;
}

START_TEST(words)
{
    ck_assert_str_eq(ra_audit_activity(RA_AUDIT_CREATE), "Create RemoteAssistancePartner");
    ck_assert_str_eq(ra_audit_activity(RA_AUDIT_DISCONNECT),
                     "Disconnect RemoteAssistancePartner");
    ck_assert_str_eq(ra_audit_operation_type(RA_AUDIT_PATCH), "Patch");
    ck_assert_str_eq(ra_audit_operation_type(RA_AUDIT_BEGIN_ONBOARDING), "Action");
    ck_assert_str_eq(written(categories, NULL), "[\"RemoteAssistance\"]");
    ck_assert_str_eq(written(activity_types, NULL),
                     "[\"Create RemoteAssistancePartner\",\"Patch RemoteAssistancePartner\","
                     "\"Delete RemoteAssistancePartner\","
                     "\"BeginOnboarding RemoteAssistancePartner\","
                     "\"Disconnect RemoteAssistancePartner\"]");
}
END_TEST

/* modifiedProperties: all set on a create, all removed on a delete, only
 * the changed ones on an update; values as strings or null. */
START_TEST(modified_properties)
{
    ra_partner_t before = partner("p", "Old", NULL, "notOnboarded", UNSET, UNSET);
    ra_partner_t after = before;
    after.values[RA_PROP_DISPLAY_NAME] = "New";
    after.values[RA_PROP_ONBOARDING_URL] = "https://x";

    ra_audit_event_t *patch = event_of(RA_AUDIT_PATCH, T1, &before, &after);
    ck_assert_str_eq(patch->modified,
                     "[{\"displayName\":\"displayName\",\"oldValue\":\"Old\",\"newValue\":\"New\"},"
                     "{\"displayName\":\"onboardingUrl\",\"oldValue\":null,"
                     "\"newValue\":\"https://x\"}]");
    ck_assert_str_eq(patch->resource_id, "p");
    ck_assert_str_eq(patch->resource_name, "New");
    ck_assert_str_eq(patch->date_time, "2023-11-14T22:13:20.0000000Z");
    ck_assert_int_eq(patch->ticks, ra_audit_ticks(apr_time_from_sec(1700000000)));

    ra_audit_event_t *create = event_of(RA_AUDIT_CREATE, T1, NULL, &after);
    ck_assert_ptr_nonnull(strstr(create->modified, "{\"displayName\":\"id\",\"oldValue\":null,"
                                                   "\"newValue\":\"p\"}"));
    ra_audit_event_t *delete = event_of(RA_AUDIT_DELETE, T1, &before, NULL);
    ck_assert_ptr_nonnull(strstr(delete->modified, "{\"displayName\":\"displayName\","
                                                   "\"oldValue\":\"Old\",\"newValue\":null}"));
    ck_assert_str_eq(delete->resource_name, "Old");
}
END_TEST

START_TEST(as_graph_json)
{
    ra_partner_t p = partner("p", "TV", NULL, "notOnboarded", UNSET, UNSET);
    json_t *json = parsed(written(event_in_context, event_of(RA_AUDIT_CREATE, T1, NULL, &p)));
    ck_assert_str_eq(json_string_value(json_object_get(json, "@odata.context")), "ctx");
    ck_assert_str_eq(json_string_value(json_object_get(json, "activityResult")), "Success");
    json_t *actor = json_object_get(json, "actor");
    ck_assert_str_eq(json_string_value(json_object_get(actor, "type")), "ItPro");
    ck_assert_str_eq(json_string_value(json_object_get(actor, "userId")), "oid-1");
    ck_assert(json_is_null(json_object_get(actor, "servicePrincipalName")));
    ck_assert_int_eq(json_array_size(json_object_get(actor, "userPermissions")), 1);
    json_t *resource = json_array_get(json_object_get(json, "resources"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(resource, "auditResourceType")),
                     "RemoteAssistancePartner");
    json_t *modified = json_object_get(resource, "modifiedProperties");
    ck_assert_int_eq(json_array_size(modified), RA_PROP_COUNT);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(modified, 0),
                                                       "@odata.type")),
                     "#microsoft.graph.auditProperty");
    json_decref(json);

    ra_audit_actor_t app = { 1, NULL, NULL, "app-2", "192.0.2.2", NULL };
    json = parsed(written(event_alone, ra_audit_event_make(pool, RA_AUDIT_DELETE, T1, &app, "c",
                                                           0, &p, NULL)));
    actor = json_object_get(json, "actor");
    ck_assert_str_eq(json_string_value(json_object_get(actor, "type")), "Application");
    ck_assert_str_eq(json_string_value(json_object_get(actor, "servicePrincipalName")), "app-2");
    ck_assert(json_is_null(json_object_get(actor, "userPrincipalName")));
    ck_assert_int_eq(json_array_size(json_object_get(actor, "userPermissions")), 0);
    json_decref(json);
}
END_TEST

START_TEST(queries_of_the_audit_set)
{
    ra_query_t q;
    const char *message;
    ck_assert(ra_query_parse_set(pool, RA_ENTITY_SET_AUDIT, RA_VERSION_V1, RA_QUERY_LIST,
                                 "$filter=activityDateTime%20ge%202026-01-01T00:00:00Z%20and%20"
                                 "activityType%20eq%20'x'&$orderby=activityDateTime%20desc",
                                 &q, &message));
    ra_sql_t *sql = ra_sql_list(pool, RA_DIALECT_SQLITE, T1, &q, 10, 0);
    ck_assert_ptr_nonnull(strstr(sql->text, "FROM remoteassist_audit_events WHERE tenant_id = "));
    ck_assert_ptr_nonnull(strstr(sql->text, "activity_ticks >= %lld"));
    ck_assert_ptr_nonnull(strstr(sql->text, "ORDER BY activity_ticks DESC, id ASC"));
    ck_assert_str_eq(ra_sql_count(pool, RA_DIALECT_PGSQL, RA_ENTITY_SET_AUDIT, T1, NULL)->text,
                     "SELECT COUNT(*) FROM remoteassist_audit_events WHERE tenant_id = %s");
    /* the partners' properties are not the events' */
    ck_assert(!ra_query_parse_set(pool, RA_ENTITY_SET_AUDIT, RA_VERSION_V1, RA_QUERY_LIST,
                                  "$filter=displayName%20eq%20'x'", &q, &message));
    ck_assert_str_eq(message, "Invalid $filter at position 1: 'displayName' is not a property "
                              "of microsoft.graph.auditEvent.");
    ck_assert(!ra_query_parse_set(pool, RA_ENTITY_SET_AUDIT, RA_VERSION_V1, RA_QUERY_LIST,
                                  "$select=id", &q, &message));
    /* a partners' $skiptoken does not continue an audit list */
    ra_query_t partners;
    ck_assert(ra_query_parse(pool, RA_VERSION_V1, RA_QUERY_LIST, NULL, &partners, &message));
    ra_key_value_t key = { "x", 0 };
    const char *token = ra_query_skiptoken(pool, &partners, &key, TEST_TOKEN_KEY);
    ck_assert(!ra_query_parse_set(pool, RA_ENTITY_SET_AUDIT, RA_VERSION_V1, RA_QUERY_LIST,
                                  apr_pstrcat(pool, "$skiptoken=", token, NULL), &q, &message)
              || !ra_query_skiptoken_verify(&q, TEST_TOKEN_KEY));
}
END_TEST

/* correlationId is an Edm.Guid: OData's unquoted Guid literal, any case,
 * compared in lower case; a quoted one is an Edm.String, which Graph
 * answers with Microsoft.OData's type error, operands in written order. */
#define GUID "5d0b6c1e-3f2a-4e8b-9c47-1a2b3c4d5e6f"
#define INCOMPATIBLE(a, b, op) "A binary operator with incompatible types was detected. " \
    "Found operand types '" a "' and '" b "' for operator kind '" op "'."

START_TEST(guid_literals)
{
    static const struct {
        const char *filter;
        const char *sql;      /* in the SQL of an accepted filter, NULL: refused */
        const char *message;  /* in the message of a refused filter */
    } cases[] = {
        { "correlationId eq " GUID, "(lower(correlation_id) = %s)", NULL },
        { "correlationId eq 5D0B6C1E-3F2A-4E8B-9C47-1A2B3C4D5E6F", "(lower(correlation_id) = %s)",
          NULL },
        { GUID " ne correlationId", "(lower(correlation_id) <> %s)", NULL },
        { "correlationId gt " GUID, "(lower(correlation_id) > %s)", NULL },
        { "correlationId in (" GUID ", 00000000-0000-0000-0000-000000000000)",
          "((lower(correlation_id) = %s) OR (lower(correlation_id) = %s))", NULL },
        { "correlationId eq @g&@g=" GUID, "(lower(correlation_id) = %s)", NULL },
        { "(correlationId eq " GUID ")", "(lower(correlation_id) = %s)", NULL },
        { "correlationId eq '" GUID "'", NULL,
          "position 18: " INCOMPATIBLE("Edm.Guid", "Edm.String", "Equal") },
        { "'" GUID "' ne correlationId", NULL,
          "position 1: " INCOMPATIBLE("Edm.String", "Edm.Guid", "NotEqual") },
        { "correlationId ge 'x'", NULL,
          INCOMPATIBLE("Edm.Guid", "Edm.String", "GreaterThanOrEqual") },
        { "correlationId in (" GUID ", 'x')", NULL,
          INCOMPATIBLE("Edm.Guid", "Edm.String", "In") },
        { "activityType eq " GUID, NULL,
          INCOMPATIBLE("Edm.String", "Edm.Guid", "Equal") },
        { "correlationId eq 5", NULL, "correlationId is a Guid" },
        { "correlationId eq 5d0b6c1e-3f2a-4e8b-9c47-1a2b3c4d5e6", NULL, "" },
        { "correlationId eq " GUID "0", NULL, "" },
        { "correlationId eq " GUID "x", NULL, "" },
        { "correlationId eq 5d0b6c1e-3f2a-4e8b-9c47_1a2b3c4d5e6f", NULL, "" },
        { "correlationId eq null", "(correlation_id IS NULL)", NULL },
        { "startswith(correlationId,'5d0b')", NULL,
          "startswith takes a string property (id, category, activityType or "
          "activityOperationType) first" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ra_query_t q;
        const char *message = NULL;
        const char *filter = cases[i].filter, *aliases = strchr(filter, '&');
        const char *args = apr_pstrcat(pool, "$filter=", apr_pescape_urlencoded(
            pool, aliases ? apr_pstrmemdup(pool, filter, (apr_size_t)(aliases - filter)) : filter),
            aliases ? aliases : "", NULL);
        int ok = ra_query_parse_set(pool, RA_ENTITY_SET_AUDIT, RA_VERSION_V1, RA_QUERY_LIST,
                                    args, &q, &message);
        ck_assert_msg(ok == (cases[i].sql != NULL), "%s: %s", filter, message ? message : "");
        if (!ok) {
            ck_assert_msg(strstr(message, cases[i].message), "%s: %s", filter, message);
            continue;
        }
        ra_sql_t *sql = ra_sql_count(pool, RA_DIALECT_PGSQL, RA_ENTITY_SET_AUDIT, T1, q.filter);
        ck_assert_msg(strstr(sql->text, cases[i].sql), "%s: %s", filter, sql->text);
        /* the literal, in lower case, is the parameter after the tenant */
        ra_sql_param_t *param = &APR_ARRAY_IDX(sql->params, 1, ra_sql_param_t);
        if (sql->params->nelts > 1 && strncmp(cases[i].filter, "correlationId in", 16)) {
            ck_assert_str_eq(param->text, GUID);
        }
    }
}
END_TEST

START_TEST(correlation_ids)
{
    const char *request_id = "00000000-0000-4000-8000-000000000000";
    ck_assert_str_eq(ra_audit_correlation_id(pool, GUID, request_id), GUID);
    ck_assert_str_eq(ra_audit_correlation_id(pool, "5D0B6C1E-3F2A-4E8B-9C47-1A2B3C4D5E6F",
                                             request_id), GUID);
    /* any other client-request-id is echoed, but cannot be an Edm.Guid */
    ck_assert_str_eq(ra_audit_correlation_id(pool, "corr-1", request_id), request_id);
    ck_assert_str_eq(ra_audit_correlation_id(pool, GUID "0", request_id), request_id);
    ck_assert_str_eq(ra_audit_correlation_id(pool, NULL, request_id), request_id);
}
END_TEST

START_TEST(ids)
{
    ck_assert(ra_audit_id_valid("6f0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"));
    ck_assert(!ra_audit_id_valid("6f0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2"));
    ck_assert(!ra_audit_id_valid("6f0b1c2d_3e4f-4a5b-8c6d-7e8f9a0b1c2d"));
    ck_assert(!ra_audit_id_valid("zf0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"));
}
END_TEST

static const char *events(apr_dbd_t *h, const char *tenant)
{
    return query_value(h, apr_psprintf(pool, "SELECT COUNT(*) FROM remoteassist_audit_events "
                                             "WHERE tenant_id = '%s'", tenant));
}

/* Each audited write leaves its event, read back as it was written; a
 * write that misses (a stale ETag, no row) leaves none. */
START_TEST(audited_writes_leave_their_event)
{
    const char *error;
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    ra_partner_t p = partner("p", "Old", NULL, "notOnboarded", UNSET, UNSET);
    ra_store_row_t row = { T1, &p, RA_VERSION_V1, event_of(RA_AUDIT_CREATE, T1, NULL, &p) };
    const ra_store_row_t *rows[] = { &row };
    ra_store_result_e result;

    ra_store_insert_batch(pool, &conn, rows, 1, &result, &error);
    ck_assert_int_eq(result, RA_STORE_DONE);
    ck_assert_str_eq(events(h, T1), "1");

    ra_partner_t q = p;
    q.values[RA_PROP_DISPLAY_NAME] = "New";
    q.etag = ra_entity_new_etag(pool);
    ra_audit_event_t *patch = event_of(RA_AUDIT_PATCH, T1, &p, &q);
    ck_assert_int_eq(ra_store_replace(pool, &conn, T1, &q, "stale", patch, &error),
                     RA_STORE_MISSING);
    ck_assert_str_eq(events(h, T1), "1");
    ck_assert_int_eq(ra_store_replace(pool, &conn, T1, &q, p.etag, patch, &error),
                     RA_STORE_DONE);
    ck_assert_str_eq(events(h, T1), "2");

    ra_audit_event_t stored;
    ck_assert_int_eq(ra_store_audit_get(pool, &conn, T1, patch->id, &stored, &error),
                     RA_STORE_DONE);
    ck_assert_str_eq(stored.modified, patch->modified);
    ck_assert_str_eq(stored.actor.upn, "admin@contoso.com");
    ck_assert_str_eq(stored.correlation_id, "corr-1");
    ck_assert_int_eq(stored.ticks, patch->ticks);
    ck_assert_int_eq(ra_store_audit_get(pool, &conn, T2, patch->id, &stored, &error),
                     RA_STORE_MISSING);

    ra_audit_event_t *gone = event_of(RA_AUDIT_DELETE, T1, &q, NULL);
    ck_assert_int_eq(ra_store_delete(pool, &conn, T1, "p", "stale", gone, &error),
                     RA_STORE_MISSING);
    ck_assert_int_eq(ra_store_delete(pool, &conn, T1, "p", q.etag, gone, &error),
                     RA_STORE_DONE);
    ck_assert_str_eq(events(h, T1), "3");
    ck_assert_str_eq(row_count(h), "0");
    close_db(h);
}
END_TEST

/* An event that cannot be written takes its change with it: the insert,
 * the replace and the delete all roll back. */
START_TEST(a_refused_event_rolls_the_change_back)
{
    const char *error;
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    ra_partner_t p = partner("p", "Old", NULL, "notOnboarded", UNSET, UNSET);
    insert(&conn, T1, &p);
    exec_sql(h, "CREATE TRIGGER refuse BEFORE INSERT ON remoteassist_audit_events "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END");

    ra_partner_t q = p;
    q.values[RA_PROP_DISPLAY_NAME] = "New";
    q.etag = ra_entity_new_etag(pool);
    ck_assert_int_eq(ra_store_replace(pool, &conn, T1, &q, p.etag,
                                      event_of(RA_AUDIT_PATCH, T1, &p, &q), &error),
                     RA_STORE_FAILED);
    ck_assert_str_eq(column(h, T1, "p", "display_name"), "Old");
    ck_assert_int_eq(ra_store_delete(pool, &conn, T1, "p", p.etag,
                                     event_of(RA_AUDIT_DELETE, T1, &p, NULL), &error),
                     RA_STORE_FAILED);
    ck_assert_str_eq(row_count(h), "1");

    /* a batch, and each of its rows again one by one */
    ra_partner_t a = partner("a", "A", NULL, "notOnboarded", UNSET, UNSET);
    ra_partner_t b = partner("b", "B", NULL, "notOnboarded", UNSET, UNSET);
    ra_store_row_t ra = { T1, &a, RA_VERSION_V1, event_of(RA_AUDIT_CREATE, T1, NULL, &a) };
    ra_store_row_t rb = { T1, &b, RA_VERSION_V1, event_of(RA_AUDIT_CREATE, T1, NULL, &b) };
    const ra_store_row_t *rows[] = { &ra, &rb };
    ra_store_result_e results[2];
    const char *errors[2];
    ra_store_insert_batch(pool, &conn, rows, 2, results, errors);
    ck_assert_int_eq(results[0], RA_STORE_FAILED);
    ck_assert_int_eq(results[1], RA_STORE_FAILED);
    ck_assert_str_eq(row_count(h), "1");
    ck_assert_str_eq(events(h, T1), "0");

    exec_sql(h, "DROP TRIGGER refuse");
    ra_store_insert_batch(pool, &conn, rows, 2, results, errors);
    ck_assert_int_eq(results[0], RA_STORE_DONE);
    ck_assert_int_eq(results[1], RA_STORE_DONE);
    ck_assert_str_eq(events(h, T1), "2");
    close_db(h);
}
END_TEST

/* Retention: at most limit events older than the bound go, oldest first. */
START_TEST(purge_is_bounded_and_keeps_the_newer)
{
    const char *error;
    int removed = -1;
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    ra_partner_t p = partner("p", "P", NULL, "notOnboarded", UNSET, UNSET);
    for (int i = 0; i < 5; i++) {
        ra_audit_event_t *e = ra_audit_event_make(pool, RA_AUDIT_CREATE, i % 2 ? T1 : T2, &user,
                                                  "c", apr_time_from_sec(1000000000 + i),
                                                  NULL, &p);
        ra_partner_t own = partner(apr_psprintf(pool, "p%d", i), "P", NULL, "notOnboarded",
                                   UNSET, UNSET);
        ra_store_row_t row = { e->tenant, &own, RA_VERSION_V1, e };
        const ra_store_row_t *rows[] = { &row };
        ra_store_result_e result;
        ra_store_insert_batch(pool, &conn, rows, 1, &result, &error);
        ck_assert_int_eq(result, RA_STORE_DONE);
    }
    apr_int64_t bound = ra_audit_ticks(apr_time_from_sec(1000000003)); /* the first three */
    ck_assert_int_eq(ra_store_audit_purge(pool, &conn, bound, 2, &removed, &error),
                     RA_STORE_DONE);
    ck_assert_int_eq(removed, 2);
    ck_assert_int_eq(ra_store_audit_purge(pool, &conn, bound, 2, &removed, &error),
                     RA_STORE_DONE);
    ck_assert_int_eq(removed, 1);
    ck_assert_int_eq(ra_store_audit_purge(pool, &conn, bound, 2, &removed, &error),
                     RA_STORE_DONE);
    ck_assert_int_eq(removed, 0);
    ck_assert_str_eq(query_value(h, "SELECT COUNT(*) FROM remoteassist_audit_events"), "2");
    close_db(h);
}
END_TEST

Suite *audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = pool_tcase(s, "events");
    tcase_add_test(tc, words);
    tcase_add_test(tc, modified_properties);
    tcase_add_test(tc, as_graph_json);
    tcase_add_test(tc, queries_of_the_audit_set);
    tcase_add_test(tc, ids);
    tcase_add_test(tc, guid_literals);
    tcase_add_test(tc, correlation_ids);
    TCase *store = db_tcase(s, "store");
    tcase_add_test(store, audited_writes_leave_their_event);
    tcase_add_test(store, a_refused_event_rolls_the_change_back);
    tcase_add_test(store, purge_is_bounded_and_keeps_the_newer);
    return s;
}
