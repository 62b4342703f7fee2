/* ra_store against a real SQLite file opened by apr_dbd's sqlite3 driver:
 * connection set-up, the fixed statements per tenant with ETag
 * compare-and-swap, lists, counts and keyset paging on real rows, and
 * batches of inserts with the group-commit queue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_dbd.h>
#include <apr_escape.h>
#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_proc.h>

#include <sqlite3.h>

#include "ra_audit.h"
#include "ra_commit.h"
#include "ra_store.h"
#include "store_fixture.h"

/* Labels are plain identifiers (PostgreSQL prepared statement names), one
 * per statement. */
START_TEST(statement_labels)
{
    apr_hash_t *seen = apr_hash_make(pool);
    for (int i = 0; i < RA_STMT_KINDS; i++) {
        const char *label = ra_store_statement_label((ra_stmt_e)i);
        ck_assert_uint_eq(strspn(label, "abcdefghijklmnopqrstuvwxyz_"), strlen(label));
        ck_assert_ptr_null(apr_hash_get(seen, label, APR_HASH_KEY_STRING));
        apr_hash_set(seen, label, APR_HASH_KEY_STRING, label);
        /* every fixed statement is confined to one tenant */
        ck_assert_ptr_nonnull(strstr(ra_store_statement_sql((ra_stmt_e)i), "tenant_id"));
    }
    ck_assert_str_eq(ra_store_statement_label(RA_STMT_INSERT), "remoteassist_insert");
}
END_TEST

START_TEST(one_line_folds_line_breaks)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "", "" },
        { "plain", "plain" },
        { "connection refused\n", "connection refused" },
        { "a\n\tIs the server running?\n", "a Is the server running?" },
        { "  lead and trail  ", "lead and trail" },
        { "x\r\n\r\ny", "x y" },
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ck_assert_str_eq(ra_dbd_one_line(pool, cases[i].in), cases[i].out);
    }
}
END_TEST

/* ---- ra_store_connection_setup ---- */

START_TEST(connection_setup_pragmas)
{
    setup_db();
    apr_dbd_t *h = open_db();
    /* start from values the setup must change */
    query_value(h, "PRAGMA busy_timeout = 0");
    query_value(h, "PRAGMA synchronous = OFF");
    ck_assert_str_eq(query_value(h, "PRAGMA busy_timeout"), "0");
    ck_assert_str_eq(query_value(h, "PRAGMA synchronous"), "0");

    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, h));
    ck_assert_str_eq(query_value(h, "PRAGMA busy_timeout"),
                     apr_itoa(pool, RA_STORE_SQLITE_BUSY_TIMEOUT_MS));
    ck_assert_str_eq(query_value(h, "PRAGMA synchronous"), "2");
    close_db(h);
}
END_TEST

/* ---- the fixed statements ---- */

START_TEST(insert_v1)
{
    const char *error = "(unset)";
    ra_partner_t p = partner("p-1", "Display Name value", "https://example.com/onboardingUrl/",
                             "onboarding", "2016-12-31T23:58:36.6670033-08:00", UNSET);
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);

    ck_assert_int_eq(ra_store_insert(pool, &conn, T1, &p, RA_VERSION_V1, &error),
                     RA_STORE_DONE);
    ck_assert_ptr_null(error);
    ck_assert_str_eq(column(h, T1, "p-1", "display_name"), "Display Name value");
    ck_assert_str_eq(column(h, T1, "p-1", "onboarding_url"), "https://example.com/onboardingUrl/");
    ck_assert_str_eq(column(h, T1, "p-1", "onboarding_status"), "onboarding");
    ck_assert_str_eq(column(h, T1, "p-1", "last_connection_date_time"),
                     "2016-12-31T23:58:36.6670033-08:00");
    ck_assert_str_eq(column(h, T1, "p-1", "last_connection_ticks"), "636188543166670033");
    ck_assert_str_eq(column(h, T1, "p-1", "onboarding_request_expiry_date_time"), UNSET);
    ck_assert_str_eq(column(h, T1, "p-1", "onboarding_request_expiry_ticks"), "0");
    ck_assert_str_eq(column(h, T1, "p-1", "etag"), p.etag);
    ck_assert_str_eq(column(h, T1, "p-1", "api_version"), "v1.0");
    ck_assert_str_eq(column(h, T1, "p-1", "created_date_time IS NOT NULL"), "1");
    close_db(h);
}
END_TEST

/* A decoded create without properties: nullable columns NULL, the others
 * the defaults. */
START_TEST(insert_defaults_and_beta)
{
    const char *error = "(unset)";
    ra_partner_t p;
    json_t *body = json_pack("{s:s}", "onboardingRequestExpiryDateTime",
                             "2017-01-01T00:02:07.7573274-08:00");
    ck_assert_int_eq(ra_entity_decode(pool, RA_VERSION_BETA, RA_DECODE_CREATE, body, &p,
                                      &error), 1);
    json_decref(body);
    p.values[RA_PROP_ID] = "p-2";
    p.etag = ra_entity_new_etag(pool);
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);

    ck_assert_int_eq(ra_store_insert(pool, &conn, T1, &p, RA_VERSION_BETA, &error),
                     RA_STORE_DONE);
    ck_assert_ptr_null(error);
    ck_assert_str_eq(column(h, T1, "p-2", "typeof(display_name)"), "null");
    ck_assert_str_eq(column(h, T1, "p-2", "typeof(onboarding_url)"), "null");
    ck_assert_str_eq(column(h, T1, "p-2", "onboarding_status"), "notOnboarded");
    ck_assert_str_eq(column(h, T1, "p-2", "last_connection_date_time"), UNSET);
    ck_assert_str_eq(column(h, T1, "p-2", "last_connection_ticks"), "0");
    ck_assert_str_eq(column(h, T1, "p-2", "onboarding_request_expiry_date_time"),
                     "2017-01-01T00:02:07.7573274-08:00");
    ck_assert_str_eq(column(h, T1, "p-2", "onboarding_request_expiry_ticks"),
                     "636188545277573274");
    ck_assert_str_eq(column(h, T1, "p-2", "api_version"), "beta");
    close_db(h);
}
END_TEST

START_TEST(insert_conflict_keeps_row)
{
    const char *error = "(unset)";
    ra_partner_t first = partner("dup", "first", NULL, "onboarded", UNSET, UNSET);
    ra_partner_t second = partner("dup", "second", "https://other/", "notOnboarded",
                                  "2016-12-31T23:58Z", "2017-01-01T00:00Z");
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);

    ck_assert_int_eq(ra_store_insert(pool, &conn, T1, &first, RA_VERSION_V1, &error),
                     RA_STORE_DONE);
    ck_assert_int_eq(ra_store_insert(pool, &conn, T1, &second, RA_VERSION_BETA, &error),
                     RA_STORE_CONFLICT);
    ck_assert_ptr_null(error);
    ck_assert_str_eq(row_count(h), "1");
    ck_assert_str_eq(column(h, T1, "dup", "display_name"), "first");
    ck_assert_str_eq(column(h, T1, "dup", "typeof(onboarding_url)"), "null");
    ck_assert_str_eq(column(h, T1, "dup", "onboarding_status"), "onboarded");
    ck_assert_str_eq(column(h, T1, "dup", "onboarding_request_expiry_date_time"), UNSET);
    ck_assert_str_eq(column(h, T1, "dup", "etag"), first.etag);
    ck_assert_str_eq(column(h, T1, "dup", "api_version"), "v1.0");

    /* ids are per tenant: another tenant may have the same one */
    ck_assert_int_eq(ra_store_insert(pool, &conn, T2, &second, RA_VERSION_BETA, &error),
                     RA_STORE_DONE);
    ck_assert_str_eq(column(h, T2, "dup", "display_name"), "second");
    ck_assert_str_eq(column(h, T1, "dup", "display_name"), "first");

    /* the statement is still usable for another id */
    ra_partner_t third = partner("other", NULL, NULL, "onboarded", UNSET, UNSET);
    ck_assert_int_eq(ra_store_insert(pool, &conn, T1, &third, RA_VERSION_V1, &error),
                     RA_STORE_DONE);
    ck_assert_str_eq(row_count(h), "3");
    close_db(h);
}
END_TEST

START_TEST(insert_conflict_across_connections)
{
    const char *error = "(unset)";
    ra_partner_t p = partner("shared", "one", NULL, "onboarded", UNSET, UNSET);
    ra_partner_t q = partner("shared", "two", NULL, "onboarded", UNSET, UNSET);
    setup_db();
    apr_dbd_t *h1 = open_db(), *h2 = open_db();
    ra_store_conn_t c1 = make_conn(h1, 1), c2 = make_conn(h2, 1);
    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, h1));
    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, h2));

    ck_assert_int_eq(ra_store_insert(pool, &c1, T1, &p, RA_VERSION_V1, &error), RA_STORE_DONE);
    ck_assert_int_eq(ra_store_insert(pool, &c2, T1, &q, RA_VERSION_V1, &error),
                     RA_STORE_CONFLICT);
    /* committed: the first connection's row is visible to the second */
    ck_assert_str_eq(column(h2, T1, "shared", "display_name"), "one");
    close_db(h1);
    close_db(h2);
}
END_TEST

START_TEST(statements_missing_are_prepared_at_first_use)
{
    const char *error = NULL;
    ra_partner_t p = partner("np", NULL, NULL, "onboarded", UNSET, UNSET);
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 0);

    /* mod_dbd's hook could not prepare them (a locked database, say) */
    ck_assert(!ra_store_statement_prepared(&conn, RA_STMT_INSERT));
    ck_assert_int_eq(ra_store_insert(pool, &conn, T1, &p, RA_VERSION_V1, &error),
                     RA_STORE_DONE);
    ck_assert(ra_store_statement_prepared(&conn, RA_STMT_INSERT));
    ck_assert_int_eq(ra_store_get(pool, &conn, T1, "np", &p, &error), RA_STORE_DONE);
    ck_assert_str_eq(row_count(h), "1");
    close_db(h);
}
END_TEST

START_TEST(prepare_statements_prepares_each_fixed_statement)
{
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 0);

    ck_assert_ptr_null(ra_store_prepare_statements(&conn));
    for (int i = 0; i < RA_STMT_KINDS; i++) {
        /* the event insert of PostgreSQL's pipelined batch is not SQLite's */
        ck_assert_int_eq(ra_store_statement_prepared(&conn, (ra_stmt_e)i),
                         i != RA_STMT_INSERT_EVENT);
    }
    close_db(h);
}
END_TEST

START_TEST(prepare_statements_says_what_failed)
{
    apr_dbd_t *h = open_db(); /* no schema: the statements cannot compile */
    ra_store_conn_t conn = make_conn(h, 0);
    const char *error = ra_store_prepare_statements(&conn);

    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, "prepare remoteassist_insert"), "%s", error);
    close_db(h);
}
END_TEST

/* Another thread of the child is inside apr_dbd's sqlite3 driver (another
 * module's query, say) and holds apr-util's process-wide driver mutex:
 * every statement of the store still runs, since none goes through that
 * driver's calls (a write's fsync under that mutex stalled every read of
 * the child). Were one to take it, this test would hang until Check's
 * timeout fails it. */

/* apr-util exports these for its drivers (apr_dbd.c), in no installed
 * header (apr_dbd_internal.h) */
apr_status_t apr_dbd_mutex_lock(void);
apr_status_t apr_dbd_mutex_unlock(void);

typedef struct {
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *changed;
    int holding, release;
} mutex_holder_t;

static void *APR_THREAD_FUNC hold_dbd_mutex(apr_thread_t *thread, void *data)
{
    mutex_holder_t *holder = data;
    apr_dbd_mutex_lock();
    apr_thread_mutex_lock(holder->lock);
    holder->holding = 1;
    apr_thread_cond_broadcast(holder->changed);
    while (!holder->release) {
        apr_thread_cond_wait(holder->changed, holder->lock);
    }
    apr_thread_mutex_unlock(holder->lock);
    apr_dbd_mutex_unlock();
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

START_TEST(statements_run_while_another_thread_holds_apr_dbds_mutex)
{
    const char *error = NULL;
    mutex_holder_t holder = { 0 };
    apr_thread_t *thread;
    apr_status_t rv;
    ra_partner_t p = partner("held", "x", NULL, "onboarded", UNSET, UNSET), got;
    ra_partner_t q = partner("held-2", "y", NULL, "onboarded", UNSET, UNSET);
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, h));
    static const ra_audit_actor_t actor = { 1, NULL, NULL, "app-1", "192.0.2.1", "" };
    ra_store_row_t *first = (ra_store_row_t *)row_of(pool, T1, "b1", "b1");
    const ra_store_row_t *rows[] = { first, row_of(pool, T1, "b2", "b2") };
    ra_store_result_e results[2];
    const char *errors[2];

    apr_thread_mutex_create(&holder.lock, APR_THREAD_MUTEX_DEFAULT, pool);
    apr_thread_cond_create(&holder.changed, pool);
    ck_assert_int_eq(apr_thread_create(&thread, NULL, hold_dbd_mutex, &holder, pool),
                     APR_SUCCESS);
    apr_thread_mutex_lock(holder.lock);
    while (!holder.holding) {
        apr_thread_cond_wait(holder.changed, holder.lock);
    }
    apr_thread_mutex_unlock(holder.lock);

    ck_assert_int_eq(ra_store_insert(pool, &conn, T1, &p, RA_VERSION_V1, &error),
                     RA_STORE_DONE);
    ck_assert_int_eq(ra_store_get(pool, &conn, T1, "held", &got, &error), RA_STORE_DONE);
    /* a write with its audit event: BEGIN IMMEDIATE, the write, COMMIT */
    ck_assert_int_eq(ra_store_replace(pool, &conn, T1, &q, NULL,
                                      ra_audit_event_make(pool, RA_AUDIT_PATCH, T1, &actor,
                                                          "corr", apr_time_now(), &p, &q),
                                      &error),
                     RA_STORE_MISSING);
    first->event = ra_audit_event_make(pool, RA_AUDIT_CREATE, T1, &actor, "corr",
                                       apr_time_now(), NULL, first->partner);
    ra_store_insert_batch(pool, &conn, rows, 2, results, errors);
    ck_assert_int_eq(results[0], RA_STORE_DONE);
    ck_assert_int_eq(results[1], RA_STORE_DONE);
    ck_assert_int_eq(ra_store_delete(pool, &conn, T1, "b1", NULL,
                                     ra_audit_event_make(pool, RA_AUDIT_DELETE, T1, &actor,
                                                         "corr", apr_time_now(),
                                                         first->partner, NULL),
                                     &error),
                     RA_STORE_DONE);

    apr_thread_mutex_lock(holder.lock);
    holder.release = 1;
    apr_thread_cond_broadcast(holder.changed);
    apr_thread_mutex_unlock(holder.lock);
    apr_thread_join(&rv, thread);
    ck_assert_str_eq(row_count(h), "2");
    close_db(h);
}
END_TEST

START_TEST(insert_check_constraint_fails)
{
    const char *error = NULL;
    ra_partner_t p = partner("bad-status", NULL, NULL, "Onboarding", UNSET, UNSET);
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);

    ck_assert_int_eq(ra_store_insert(pool, &conn, T1, &p, RA_VERSION_V1, &error),
                     RA_STORE_FAILED);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strncmp(error, "remoteassist_insert: ", 21) == 0, "error: %s", error);
    ck_assert_str_eq(row_count(h), "0");
    close_db(h);
}
END_TEST

/* A date-time that is not one never reaches the database: it has no ticks. */
START_TEST(invalid_datetime_fails)
{
    const char *error = NULL;
    ra_partner_t p = partner("bad-date", NULL, NULL, "onboarded", "yesterday", UNSET);
    ra_partner_t q = partner("bad-expiry", NULL, NULL, "onboarded", UNSET, "2017-02-29T00:00Z");
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);

    ck_assert_int_eq(ra_store_insert(pool, &conn, T1, &p, RA_VERSION_V1, &error),
                     RA_STORE_FAILED);
    ck_assert_str_eq(error, "a date-time is not an Edm.DateTimeOffset");
    ck_assert_int_eq(ra_store_insert(pool, &conn, T1, &q, RA_VERSION_BETA, &error),
                     RA_STORE_FAILED);
    ck_assert_str_eq(row_count(h), "0");

    ra_partner_t good = partner("good", "name", NULL, "onboarded", UNSET, UNSET);
    insert(&conn, T1, &good);
    p.values[RA_PROP_ID] = "good";
    ck_assert_int_eq(ra_store_replace(pool, &conn, T1, &p, good.etag, NULL, &error), RA_STORE_FAILED);
    ck_assert_str_eq(error, "a date-time is not an Edm.DateTimeOffset");
    ck_assert_str_eq(column(h, T1, "good", "last_connection_date_time"), UNSET);
    close_db(h);
}
END_TEST

START_TEST(insert_table_dropped_fails)
{
    const char *error = NULL;
    ra_partner_t p = partner("gone", "x", NULL, "onboarded", UNSET, UNSET);
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    apr_dbd_t *other = open_db();
    exec_sql(other, "DROP TABLE remote_assistance_partners");
    close_db(other);

    ck_assert_int_eq(ra_store_insert(pool, &conn, T1, &p, RA_VERSION_V1, &error),
                     RA_STORE_FAILED);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strncmp(error, "remoteassist_insert: ", 21) == 0, "error: %s", error);
    ck_assert_int_eq(table_exists(h, "remote_assistance_partners"), 0);
    close_db(h);
}
END_TEST

/* Another connection changes the schema without touching the table (an
 * administrator adds an index): the statements prepared earlier must still
 * run. (apr_dbd_sqlite3 prepares with the legacy sqlite3_prepare(), whose
 * statements are not recompiled after a schema change; the module's are
 * prepared with sqlite3_prepare_v3, whose statements are.) */
START_TEST(statements_after_schema_change)
{
    const char *error = NULL, *error2 = NULL;
    ra_partner_t p = partner("after-index", "x", NULL, "onboarded", UNSET, UNSET);
    ra_partner_t q = partner("after-index-2", "y", NULL, "onboarded", UNSET, UNSET);
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, h));
    apr_dbd_t *other = open_db();
    exec_sql(other, "CREATE INDEX partners_by_status ON remote_assistance_partners "
                    "(onboarding_status)");
    close_db(other);

    ra_store_result_e first = ra_store_insert(pool, &conn, T1, &p, RA_VERSION_V1, &error);
    /* not a one-off either: the next insert on the connection must work too */
    ra_store_result_e second = ra_store_insert(pool, &conn, T1, &q, RA_VERSION_V1, &error2);
    ck_assert_msg(first == RA_STORE_DONE && second == RA_STORE_DONE,
                  "inserts after CREATE INDEX on another connection: %d (%s), then %d (%s)",
                  (int)first, error ? error : "no error", (int)second,
                  error2 ? error2 : "no error");
    ck_assert_str_eq(row_count(h), "2");

    other = open_db();
    exec_sql(other, "DROP INDEX partners_by_status");
    close_db(other);
    ra_partner_t read;
    ck_assert_int_eq(ra_store_get(pool, &conn, T1, "after-index", &read, &error), RA_STORE_DONE);
    ck_assert_int_eq(ra_store_delete(pool, &conn, T1, "after-index-2", NULL, NULL, &error),
                     RA_STORE_DONE);
    close_db(h);
}
END_TEST

/* The statements prepared on a connection. */
static int statements_on(apr_dbd_t *h)
{
    sqlite3 *db = apr_dbd_native_handle(driver, h);
    int n = 0;
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st)) {
        n++;
    }
    return n;
}

/* A lasting failure (here a full database) prepares nothing new: each
 * fixed statement is prepared once per connection, and a copy left for
 * every failed write would grow the connection without bound. */
START_TEST(full_database_is_not_prepared_again)
{
    const char *error = NULL;
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, h));
    ck_assert_ptr_null(ra_store_prepare_statements(&conn));
    char *pages = apr_pstrdup(pool, query_value(h, "PRAGMA page_count"));
    query_value(h, apr_pstrcat(pool, "PRAGMA max_page_count = ", pages, NULL));
    int before = statements_on(h);

    ra_store_result_e result = RA_STORE_DONE;
    for (int i = 0; i < 200 && result == RA_STORE_DONE; i++) {
        ra_partner_t p = partner(apr_psprintf(pool, "filler-%d-%0400d", i, 0), "x", NULL,
                                 "onboarded", UNSET, UNSET);
        result = ra_store_insert(pool, &conn, T1, &p, RA_VERSION_V1, &error);
    }
    ck_assert_int_eq(result, RA_STORE_FAILED);
    ck_assert_msg(strstr(error, "full"), "%s", error);
    ck_assert_int_eq(statements_on(h), before);
    close_db(h);
}
END_TEST

START_TEST(get_per_tenant)
{
    const char *error = "(unset)";
    ra_partner_t mine = partner("p", "mine", "https://mine/", "onboarding",
                                "2016-12-31T23:58:36.6670033-08:00",
                                "2017-01-01T00:02:07.7573274-08:00");
    ra_partner_t theirs = partner("p", "theirs", NULL, "onboarded", UNSET, UNSET);
    ra_partner_t got;
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    insert(&conn, T1, &mine);
    insert(&conn, T2, &theirs);

    ck_assert_int_eq(ra_store_get(pool, &conn, T1, "p", &got, &error), RA_STORE_DONE);
    ck_assert_ptr_null(error);
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        ck_assert_pstr_eq(got.values[i], mine.values[i]);
    }
    ck_assert_str_eq(got.etag, mine.etag);
    ck_assert_uint_eq(got.present, 0);
    ck_assert_int_eq(ra_store_get(pool, &conn, T2, "p", &got, &error), RA_STORE_DONE);
    ck_assert_str_eq(got.values[RA_PROP_DISPLAY_NAME], "theirs");
    ck_assert_ptr_null(got.values[RA_PROP_ONBOARDING_URL]);
    ck_assert_str_eq(got.etag, theirs.etag);
    ck_assert_int_eq(ra_store_get(pool, &conn, T3, "p", &got, &error), RA_STORE_MISSING);
    ck_assert_int_eq(ra_store_get(pool, &conn, T1, "P", &got, &error), RA_STORE_MISSING);
    ck_assert_ptr_null(error);
    close_db(h);
}
END_TEST

/* Two writers read the same version; the first to write wins, the second
 * finds its ETag gone and changes nothing. */
START_TEST(replace_compare_and_swap)
{
    const char *error = "(unset)";
    ra_partner_t original = partner("p", "original", NULL, "notOnboarded", UNSET, UNSET);
    ra_partner_t a, b, now;
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    insert(&conn, T1, &original);
    insert(&conn, T2, &original);

    ck_assert_int_eq(ra_store_get(pool, &conn, T1, "p", &a, &error), RA_STORE_DONE);
    ck_assert_int_eq(ra_store_get(pool, &conn, T1, "p", &b, &error), RA_STORE_DONE);
    const char *read_etag = a.etag;
    a.values[RA_PROP_DISPLAY_NAME] = "by a";
    a.values[RA_PROP_LAST_CONNECTION] = "1970-01-01T00:00:00Z";
    a.etag = ra_entity_new_etag(pool);
    b.values[RA_PROP_DISPLAY_NAME] = "by b";
    b.etag = ra_entity_new_etag(pool);

    ck_assert_int_eq(ra_store_replace(pool, &conn, T1, &a, read_etag, NULL, &error), RA_STORE_DONE);
    ck_assert_ptr_null(error);
    ck_assert_int_eq(ra_store_replace(pool, &conn, T1, &b, read_etag, NULL, &error), RA_STORE_MISSING);
    ck_assert_ptr_null(error);
    ck_assert_int_eq(ra_store_get(pool, &conn, T1, "p", &now, &error), RA_STORE_DONE);
    ck_assert_str_eq(now.values[RA_PROP_DISPLAY_NAME], "by a");
    ck_assert_str_eq(now.etag, a.etag);
    /* the sort key follows the value */
    ck_assert_str_eq(column(h, T1, "p", "last_connection_ticks"), "621355968000000000");

    /* with the current ETag, but in another tenant: not there */
    b.etag = ra_entity_new_etag(pool);
    ck_assert_int_eq(ra_store_replace(pool, &conn, T3, &b, a.etag, NULL, &error), RA_STORE_MISSING);
    /* the other tenant's row of the same id is its own */
    ck_assert_str_eq(column(h, T2, "p", "display_name"), "original");
    ck_assert_str_eq(column(h, T2, "p", "etag"), original.etag);
    ck_assert_int_eq(ra_store_replace(pool, &conn, T2, &b, original.etag, NULL, &error),
                     RA_STORE_DONE);
    ck_assert_str_eq(column(h, T1, "p", "display_name"), "by a");
    /* a missing id */
    b.values[RA_PROP_ID] = "nobody";
    ck_assert_int_eq(ra_store_replace(pool, &conn, T1, &b, b.etag, NULL, &error), RA_STORE_MISSING);
    ck_assert_str_eq(row_count(h), "2");
    close_db(h);
}
END_TEST

START_TEST(delete_per_tenant_and_etag)
{
    const char *error = "(unset)";
    ra_partner_t p = partner("p", "one", NULL, "onboarded", UNSET, UNSET);
    ra_partner_t q = partner("q", "two", NULL, "onboarded", UNSET, UNSET);
    ra_partner_t theirs = partner("p", "theirs", NULL, "onboarded", UNSET, UNSET);
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    insert(&conn, T1, &p);
    insert(&conn, T1, &q);
    insert(&conn, T2, &theirs);

    ck_assert_int_eq(ra_store_delete(pool, &conn, T3, "p", NULL, NULL, &error), RA_STORE_MISSING);
    ck_assert_int_eq(ra_store_delete(pool, &conn, T1, "p", theirs.etag, NULL, &error),
                     RA_STORE_MISSING);
    ck_assert_int_eq(ra_store_delete(pool, &conn, T1, "p", "stale", NULL, &error), RA_STORE_MISSING);
    ck_assert_ptr_null(error);
    ck_assert_str_eq(row_count(h), "3");
    ck_assert_int_eq(ra_store_delete(pool, &conn, T1, "p", p.etag, NULL, &error), RA_STORE_DONE);
    ck_assert_ptr_null(column(h, T1, "p", "id"));
    ck_assert_int_eq(ra_store_delete(pool, &conn, T1, "p", NULL, NULL, &error), RA_STORE_MISSING);
    ck_assert_int_eq(ra_store_delete(pool, &conn, T1, "q", NULL, NULL, &error), RA_STORE_DONE);
    /* the other tenant's row of the same id is still there */
    ck_assert_str_eq(column(h, T2, "p", "display_name"), "theirs");
    ck_assert_str_eq(row_count(h), "1");
    close_db(h);
}
END_TEST

/* ---- lists and counts on real rows ---- */

typedef struct {
    const char *id, *name, *url, *status, *last;
} row_t;

/* Inserts rows for tenant, the expiry left at its default. */
static void insert_rows(const ra_store_conn_t *conn, const char *tenant, const row_t *rows,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ra_partner_t p = partner(rows[i].id, rows[i].name, rows[i].url, rows[i].status,
                                 rows[i].last, UNSET);
        insert(conn, tenant, &p);
    }
}

/* The ids of rows, comma-separated. */
static const char *ids_of(const apr_array_header_t *rows, int n)
{
    const char *out = "";
    for (int i = 0; i < n && i < rows->nelts; i++) {
        out = apr_pstrcat(pool, out, i ? "," : "",
                          APR_ARRAY_IDX(rows, i, ra_partner_t).values[RA_PROP_ID], NULL);
    }
    return out;
}

/* The ids a list answers for args (at most limit, after offset). */
static const char *list_ids(const ra_store_conn_t *conn, const char *tenant, const char *args,
                            apr_int64_t limit, apr_int64_t offset)
{
    ra_query_t q;
    apr_array_header_t *rows;
    const char *error = "(unset)";
    parse(RA_VERSION_BETA, args, &q);
    ck_assert_int_eq(list_rows(pool, conn, tenant, &q, limit, offset, &rows, &error),
                     RA_STORE_DONE);
    ck_assert_ptr_null(error);
    return ids_of(rows, rows->nelts);
}

/* Every page of args, page rows at a time, each continued by the
 * $skiptoken of its last row as the module builds its nextLink. */
static const char *all_pages(const ra_store_conn_t *conn, const char *tenant, const char *args,
                             int page)
{
    const char *ids = "", *error;
    for (int pages = 0; pages < 100; pages++) {
        ra_query_t q;
        apr_array_header_t *rows;
        ra_key_value_t last[RA_PROP_COUNT];
        parse(RA_VERSION_BETA, args, &q);
        ck_assert_int_eq(list_rows(pool, conn, tenant, &q, page + 1, 0, &rows, &error),
                         RA_STORE_DONE);
        if (rows->nelts > 0) {
            ids = apr_pstrcat(pool, ids, *ids ? "," : "", ids_of(rows, page), NULL);
        }
        if (rows->nelts <= page) {
            return ids;
        }
        ra_sql_key_values(&q, APR_ARRAY_IDX(rows, page - 1, ra_partner_t).values, last);
        args = ra_query_next_args(pool, &q, ra_query_skiptoken(pool, &q, last, TEST_TOKEN_KEY));
    }
    ck_abort_msg("%s: paging does not end", args);
    return NULL;
}

/* How many items a comma-separated list has. */
static apr_int64_t items(const char *list)
{
    apr_int64_t n = *list != '\0';
    for (; *list; list++) {
        n += *list == ',';
    }
    return n;
}

static const row_t filter_rows[] = {
    { "a1", "Contoso", "https://contoso.example/", "onboarded", "2016-12-31T23:58:36-08:00" },
    { "a2", "contoso", NULL, "onboarding", "2017-01-01T07:00:00Z" },
    { "a3", NULL, "https://x.example/path", "notOnboarded", UNSET },
    { "a4", "Caf\xc3\xa9 \xc3\xa9", "https://y.example/", "onboarded",
      "2017-01-01T12:00:00+05:30" },
    { "a5", "", NULL, "notOnboarded", "2018-06-01T00:00:00Z" },
};

/* A database whose tenant T1 holds filter_rows, and a connection to it
 * (every statement prepared). */
static apr_dbd_t *with_filter_rows(ra_store_conn_t *conn)
{
    setup_db();
    apr_dbd_t *h = open_db();
    *conn = make_conn(h, 1);
    insert_rows(conn, T1, filter_rows, COUNT_OF(filter_rows));
    return h;
}


/* What OData says each filter selects, on SQLite: null is unequal to any
 * value and not ordered, strings compare by code point, functions count
 * characters, DateTimeOffsets compare by instant. */
START_TEST(filters_on_rows)
{
    static const struct {
        const char *filter, *ids;
    } cases[] = {
        { "displayName eq 'Contoso'", "a1" },
        { "displayName ne 'Contoso'", "a2,a3,a4,a5" },
        { "not (displayName eq 'Contoso')", "a2,a3,a4,a5" },
        { "displayName eq null", "a3" },
        { "displayName ne null", "a1,a2,a4,a5" },
        { "displayName gt 'C'", "a1,a2,a4" },
        { "not (displayName gt 'C')", "a3,a5" },
        { "displayName lt 'c'", "a1,a4,a5" },
        { "displayName le ''", "a5" },
        { "startswith(displayName,'Con')", "a1" },
        { "startswith(displayName,'')", "a1,a2,a4,a5" },
        { "not startswith(displayName,'Con')", "a2,a3,a4,a5" },
        { "endswith(displayName,'\xc3\xa9 \xc3\xa9')", "a4" },
        { "endswith(displayName,'')", "a1,a2,a4,a5" },
        { "endswith(onboardingUrl,'/')", "a1,a4" },
        { "endswith(displayName,'xContoso')", "" },
        { "endswith(displayName,'O')", "" },
        { "contains(displayName,'nto')", "a1,a2" },
        { "contains(displayName,'NTO')", "" },
        { "contains(displayName,'')", "a1,a2,a4,a5" },
        { "contains(onboardingUrl,'x.example')", "a3" },
        { "startswith(displayName,'Caf\xc3\xa9')", "a4" },
        { "onboardingStatus eq 'onboarded'", "a1,a4" },
        { "onboardingStatus ne microsoft.graph.remoteAssistanceOnboardingStatus'onboarded'",
          "a2,a3,a5" },
        { "lastConnectionDateTime gt 2017-01-01T07:00:00Z", "a1,a5" },
        { "lastConnectionDateTime ge 2017-01-01T12:30:00+05:30", "a1,a2,a5" },
        { "lastConnectionDateTime eq 2017-01-01T07:58:36Z", "a1" },
        { "lastConnectionDateTime le 0001-01-01T00:00:00Z", "a3" },
        { "lastConnectionDateTime lt 2017-01-01T07:00:00.0000001Z", "a2,a3,a4" },
        { "lastConnectionDateTime eq null", "" },
        { "lastConnectionDateTime ne null", "a1,a2,a3,a4,a5" },
        { "onboardingRequestExpiryDateTime eq 0001-01-01T00:00:00Z", "a1,a2,a3,a4,a5" },
        { "id eq 'a1' or id eq 'a3' and displayName eq null", "a1,a3" },
        { "(id eq 'a1' or id eq 'a3') and displayName eq null", "a3" },
        { "startswith(id,'a') and not contains(id,'3')", "a1,a2,a4,a5" },
    };
    static const row_t other_tenant[] = {
        { "a1", "Contoso", "https://contoso.example/", "onboarded", UNSET },
        { "b1", "Contoso", NULL, "onboarded", "2017-01-01T07:58:36Z" },
    };
    ra_store_conn_t conn;
    apr_dbd_t *h = with_filter_rows(&conn);
    insert_rows(&conn, T2, other_tenant, COUNT_OF(other_tenant));

    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ra_query_t q;
        apr_int64_t count = -1;
        const char *error = "(unset)";
        const char *args = apr_pstrcat(pool, "$filter=",
                                       apr_pescape_urlencoded(pool, cases[i].filter), NULL);
        const char *ids = list_ids(&conn, T1, args, 100, 0);
        ck_assert_msg(!strcmp(ids, cases[i].ids), "%s: %s, expected %s", cases[i].filter, ids,
                      cases[i].ids);
        parse(RA_VERSION_BETA, args, &q);
        ck_assert_int_eq(ra_store_count(pool, &conn, T1, q.filter, &count, &error),
                         RA_STORE_DONE);
        ck_assert_ptr_null(error);
        ck_assert_msg(count == items(cases[i].ids), "%s: count %lld", cases[i].filter,
                      (long long)count);
    }
    close_db(h);
}
END_TEST

/* RemoteAssistQueryTimeout on SQLite: a list or count that scans a large
 * tenant stops at a tiny bound (RA_STORE_TIMED_OUT, not a failure), leaves
 * the connection as it was, and runs whole without the bound. */
START_TEST(query_timeout_stops_a_long_scan)
{
    enum { ROWS = 200000 };
    apr_int64_t count = -1;
    apr_array_header_t *rows;
    const char *error;
    ra_query_t q;
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    exec_sql(h, apr_psprintf(pool,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
        "INSERT INTO remote_assistance_partners (tenant_id, id, display_name, "
        "onboarding_status, last_connection_date_time, last_connection_ticks, "
        "onboarding_request_expiry_date_time, onboarding_request_expiry_ticks, etag, "
        "api_version) SELECT '" T1 "', printf('p%%06d', i), 'partner ' || i, 'onboarded', "
        "'" UNSET "', 0, '" UNSET "', 0, 'e', 'v1.0' FROM n", ROWS));
    /* matches no row, so every row is read */
    parse(RA_VERSION_BETA, "$filter=contains(displayName,'none')", &q);

    conn.query_timeout = apr_time_from_msec(1);
    ck_assert_int_eq(list_rows(pool, &conn, T1, &q, 10, 0, &rows, &error),
                     RA_STORE_TIMED_OUT);
    ck_assert_int_eq(ra_store_count(pool, &conn, T1, q.filter, &count, &error),
                     RA_STORE_TIMED_OUT);
    /* a statement outside the list and count is not bounded afterwards */
    ra_partner_t got;
    ck_assert_int_eq(ra_store_get(pool, &conn, T1, "p000001", &got, &error), RA_STORE_DONE);
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM remote_assistance_partners "
                                    "WHERE display_name LIKE '%none%'"), "0");

    conn.query_timeout = 0;
    ck_assert_int_eq(list_rows(pool, &conn, T1, &q, 10, 0, &rows, &error), RA_STORE_DONE);
    ck_assert_int_eq(rows->nelts, 0);
    ck_assert_int_eq(ra_store_count(pool, &conn, T1, NULL, &count, &error), RA_STORE_DONE);
    ck_assert_int_eq(count, ROWS);
    /* a bound the scan keeps */
    conn.query_timeout = apr_time_from_sec(20);
    ck_assert_int_eq(ra_store_count(pool, &conn, T1, q.filter, &count, &error),
                     RA_STORE_DONE);
    ck_assert_int_eq(count, 0);
    close_db(h);
}
END_TEST

START_TEST(list_and_count_per_tenant)
{
    static const row_t others[] = { { "z9", "Z", NULL, "onboarded", UNSET } };
    apr_int64_t count = -1;
    const char *error;
    ra_store_conn_t conn;
    apr_dbd_t *h = with_filter_rows(&conn);
    insert_rows(&conn, T2, others, COUNT_OF(others));

    ck_assert_str_eq(list_ids(&conn, T1, NULL, 100, 0), "a1,a2,a3,a4,a5");
    ck_assert_str_eq(list_ids(&conn, T2, NULL, 100, 0), "z9");
    ck_assert_str_eq(list_ids(&conn, T3, NULL, 100, 0), "");
    ck_assert_int_eq(ra_store_count(pool, &conn, T1, NULL, &count, &error), RA_STORE_DONE);
    ck_assert_int_eq(count, 5);
    ck_assert_int_eq(ra_store_count(pool, &conn, T2, NULL, &count, &error), RA_STORE_DONE);
    ck_assert_int_eq(count, 1);
    ck_assert_int_eq(ra_store_count(pool, &conn, T3, NULL, &count, &error), RA_STORE_DONE);
    ck_assert_int_eq(count, 0);
    /* limit and offset ($top and $skip) */
    ck_assert_str_eq(list_ids(&conn, T1, NULL, 2, 0), "a1,a2");
    ck_assert_str_eq(list_ids(&conn, T1, NULL, 2, 2), "a3,a4");
    ck_assert_str_eq(list_ids(&conn, T1, NULL, 2, 4), "a5");
    ck_assert_str_eq(list_ids(&conn, T1, NULL, 0, 0), "");
    ck_assert_str_eq(list_ids(&conn, T1, "$orderby=id desc", 2, 1), "a4,a3");

    /* each row comes back whole, ETag included */
    ra_query_t q;
    apr_array_header_t *rows;
    parse(RA_VERSION_BETA, "$filter=id eq 'a4'", &q);
    ck_assert_int_eq(list_rows(pool, &conn, T1, &q, 10, 0, &rows, &error), RA_STORE_DONE);
    ck_assert_int_eq(rows->nelts, 1);
    ra_partner_t got, *listed = &APR_ARRAY_IDX(rows, 0, ra_partner_t);
    ck_assert_int_eq(ra_store_get(pool, &conn, T1, "a4", &got, &error), RA_STORE_DONE);
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        ck_assert_pstr_eq(listed->values[i], got.values[i]);
    }
    ck_assert_str_eq(listed->etag, got.etag);
    close_db(h);
}
END_TEST

/* Lists and counts keep their statements prepared per connection, one per
 * text and at most 16, reset after each use: the same query prepares
 * nothing new, a schema change does not stale them, no read transaction is
 * left open (a TRUNCATE checkpoint by another connection is not blocked),
 * an interrupted one serves again, and releasing the connection finalizes
 * them all. */
START_TEST(reads_keep_their_statements)
{
    static const char *const shapes[] = {
        "$orderby=id", "$orderby=id desc", "$orderby=displayName",
        "$orderby=displayName desc", "$orderby=onboardingStatus",
        "$orderby=onboardingStatus desc", "$filter=id eq 'a1'", "$filter=id ne 'a1'",
        "$filter=id gt 'a1'", "$filter=id lt 'a3'", "$filter=id ge 'a2'", "$filter=id le 'a2'",
        "$filter=startswith(displayName,'C')", "$filter=endswith(displayName,'o')",
        "$filter=contains(displayName,'nt')", "$filter=displayName eq 'Contoso'",
        "$filter=onboardingStatus eq 'onboarded'", "$filter=id eq 'a1' or id eq 'a2'",
        "$filter=id eq 'a1' and displayName eq 'Contoso'", "$orderby=displayName,id desc",
    };
    apr_int64_t count = -1;
    const char *error;
    ra_store_conn_t conn;
    apr_dbd_t *h = with_filter_rows(&conn);
    int base = statements_on(h);

    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(list_ids(&conn, T1, "$orderby=id desc", 100, 0), "a5,a4,a3,a2,a1");
    }
    ck_assert_int_eq(statements_on(h), base + 1);
    ck_assert_int_eq(ra_store_count(pool, &conn, T1, NULL, &count, &error), RA_STORE_DONE);
    ck_assert_int_eq(statements_on(h), base + 2);

    /* no read transaction left open by a kept statement */
    apr_dbd_t *other = open_db();
    ck_assert_str_eq(query_value(other, "PRAGMA wal_checkpoint(TRUNCATE)"), "0");
    /* a schema change elsewhere: the kept statement is prepared again */
    exec_sql(other, "CREATE INDEX kept_stale ON remote_assistance_partners (display_name)");
    ck_assert_str_eq(list_ids(&conn, T1, "$orderby=id desc", 2, 0), "a5,a4");

    for (size_t i = 0; i < COUNT_OF(shapes); i++) {
        list_ids(&conn, T1, shapes[i], 100, 0);
    }
    ck_assert_int_eq(statements_on(h), base + 16);
    ck_assert_str_eq(list_ids(&conn, T1, "$filter=id eq 'a1' or id eq 'a2'", 100, 0),
                     "a1,a2");

    /* the fixed statements (base) go too: sqlite3_close needs none left */
    ra_store_connection_release(&conn);
    ck_assert_int_eq(statements_on(h), 0);
    ck_assert_str_eq(list_ids(&conn, T1, "$orderby=id", 1, 0), "a1");
    close_db(other);
    close_db(h);
}
END_TEST

/* Keyset paging over NULL display names, in both directions and at every
 * page size, gives exactly the order of one big page. */
START_TEST(paging_with_nulls)
{
    static const row_t rows[] = {
        { "p1", "b", NULL, "onboarded", UNSET },
        { "p2", NULL, NULL, "onboarded", UNSET },
        { "p3", "a", NULL, "onboarded", UNSET },
        { "p4", "b", NULL, "onboarded", UNSET },
        { "p5", NULL, NULL, "onboarded", UNSET },
        { "p6", "c", NULL, "onboarded", UNSET },
        { "p7", "a", NULL, "onboarded", UNSET },
    };
    static const struct {
        const char *args, *ids;
    } cases[] = {
        /* nulls first ascending, last descending; ties by id */
        { "$orderby=displayName", "p2,p5,p3,p7,p1,p4,p6" },
        { "$orderby=displayName desc", "p6,p1,p4,p3,p7,p2,p5" },
        { "$orderby=displayName,id desc", "p5,p2,p7,p3,p4,p1,p6" },
        { "$orderby=displayName desc,id desc", "p6,p4,p1,p7,p3,p5,p2" },
        { "$orderby=displayName&$filter=id ne 'p5'", "p2,p3,p7,p1,p4,p6" },
        { "$orderby=onboardingUrl desc,displayName desc", "p6,p1,p4,p3,p7,p2,p5" },
    };
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    insert_rows(&conn, T1, rows, COUNT_OF(rows));
    insert_rows(&conn, T2, rows, 3); /* never on a page of T1 */

    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ck_assert_str_eq(list_ids(&conn, T1, cases[i].args, 100, 0), cases[i].ids);
        for (int page = 1; page <= 3; page++) {
            const char *ids = all_pages(&conn, T1, cases[i].args, page);
            ck_assert_msg(!strcmp(ids, cases[i].ids), "%s, %d a page: %s, expected %s",
                          cases[i].args, page, ids, cases[i].ids);
        }
    }
    close_db(h);
}
END_TEST

/* DateTimeOffsets order by instant, not by the text written with offsets,
 * in one page and across pages. */
START_TEST(paging_by_instant)
{
    static const row_t rows[] = {
        { "d1", NULL, NULL, "onboarded", "2017-01-01T00:00:00+05:00" },  /* 19:00Z */
        { "d2", NULL, NULL, "onboarded", "2016-12-31T20:00:00Z" },
        { "d3", NULL, NULL, "onboarded", "2016-12-31T18:30:00-01:00" },  /* 19:30Z */
        { "d4", NULL, NULL, "onboarded", "2016-12-31T19:00:00.0000001Z" },
        { "d5", NULL, NULL, "onboarded", "2016-12-31T19:00:00Z" },       /* as d1 */
    };
    static const struct {
        const char *args, *ids;
    } cases[] = {
        { "$orderby=lastConnectionDateTime", "d1,d5,d4,d3,d2" },
        { "$orderby=lastConnectionDateTime desc", "d2,d3,d4,d1,d5" },
        { "$orderby=lastConnectionDateTime desc,id desc", "d2,d3,d4,d5,d1" },
        { "$orderby=lastConnectionDateTime&$filter=lastConnectionDateTime lt "
          "2016-12-31T19:30:00Z", "d1,d5,d4" },
    };
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    insert_rows(&conn, T1, rows, COUNT_OF(rows));

    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        ck_assert_str_eq(list_ids(&conn, T1, cases[i].args, 100, 0), cases[i].ids);
        for (int page = 1; page <= 2; page++) {
            const char *ids = all_pages(&conn, T1, cases[i].args, page);
            ck_assert_msg(!strcmp(ids, cases[i].ids), "%s, %d a page: %s, expected %s",
                          cases[i].args, page, ids, cases[i].ids);
        }
    }
    /* the values come back as written */
    ra_query_t q;
    apr_array_header_t *listed;
    const char *error;
    parse(RA_VERSION_BETA, "$orderby=lastConnectionDateTime", &q);
    ck_assert_int_eq(list_rows(pool, &conn, T1, &q, 1, 0, &listed, &error), RA_STORE_DONE);
    ck_assert_str_eq(APR_ARRAY_IDX(listed, 0, ra_partner_t).values[RA_PROP_LAST_CONNECTION],
                     "2017-01-01T00:00:00+05:00");
    close_db(h);
}
END_TEST

/* ------------------------------------------------------ group commit */

static void refuse_poison(apr_dbd_t *h)
{
    exec_sql(h, "CREATE TRIGGER poison BEFORE INSERT ON remote_assistance_partners "
                "WHEN NEW.display_name = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
}

/* One transaction for all; each row its own outcome, a repeated id taken. */
START_TEST(insert_batch_commits_each_rows_outcome)
{
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    const ra_store_row_t *rows[] = {
        row_of(pool, T1, "a", "first"), row_of(pool, T1, "b", "second"),
        row_of(pool, T1, "a", "twin"), row_of(pool, T2, "a", "other tenant"),
    };
    ra_store_result_e results[4];
    const char *errors[4];

    ra_store_insert_batch(pool, &conn, rows, 4, results, errors);
    ck_assert_int_eq(results[0], RA_STORE_DONE);
    ck_assert_int_eq(results[1], RA_STORE_DONE);
    ck_assert_int_eq(results[2], RA_STORE_CONFLICT);
    ck_assert_int_eq(results[3], RA_STORE_DONE);
    ck_assert_str_eq(row_count(h), "3");
    ck_assert_str_eq(column(h, T1, "a", "display_name"), "first");
    close_db(h);
}
END_TEST

/* A write refused as read-only (here PRAGMA query_only; in the field a
 * -shm file this process opened while it was root's) says what to look at. */
START_TEST(a_read_only_connection_says_what_to_look_at)
{
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    static const ra_audit_actor_t actor = { 1, NULL, NULL, "app-1", "192.0.2.1", "" };
    ra_store_row_t *row = apr_pmemdup(pool, row_of(pool, T1, "ro", "ro"), sizeof(*row));
    const ra_store_row_t *rows[] = { row };
    ra_store_result_e result;
    const char *error = NULL;

    /* audited: its transaction's BEGIN is what fails, as in the field */
    row->event = ra_audit_event_make(pool, RA_AUDIT_CREATE, T1, &actor, "corr",
                                     apr_time_now(), NULL, row->partner);
    exec_sql(h, "PRAGMA query_only = 1");
    ra_store_insert_batch(pool, &conn, rows, 1, &result, &error);
    ck_assert_int_eq(result, RA_STORE_FAILED);
    ck_assert_msg(error && strstr(error, "(SQLite code 8); this process opened the database "
                                         "or its -shm file read-only"), "%s", error);
    close_db(h);
}
END_TEST

/* An audited batch: each created row's event in the batch's transaction,
 * none for a row whose id was taken; an event that cannot be written
 * rolls the batch back, and its rows then go one by one. */
START_TEST(insert_batch_writes_the_events_of_the_rows_it_created)
{
    static const ra_audit_actor_t actor = { 1, NULL, NULL, "app-1", "192.0.2.1",
                                            "DeviceManagementServiceConfig.ReadWrite.All" };
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    const char *names[] = { "first", "second", "twin" }, *ids[] = { "a", "b", "a" };
    const ra_store_row_t *rows[3];
    ra_store_result_e results[3];
    const char *errors[3];

    for (int i = 0; i < 3; i++) {
        ra_store_row_t *row = apr_pmemdup(pool, row_of(pool, T1, ids[i], names[i]),
                                          sizeof(*row));
        row->event = ra_audit_event_make(pool, RA_AUDIT_CREATE, T1, &actor, "corr",
                                         apr_time_now(), NULL, row->partner);
        rows[i] = row;
    }
    ra_store_insert_batch(pool, &conn, rows, 3, results, errors);
    ck_assert_int_eq(results[0], RA_STORE_DONE);
    ck_assert_int_eq(results[1], RA_STORE_DONE);
    ck_assert_int_eq(results[2], RA_STORE_CONFLICT);
    ck_assert_str_eq(query_value(h, "SELECT group_concat(id, ' ') FROM (SELECT id FROM "
                                    RA_AUDIT_TABLE " ORDER BY id)"),
                     strcmp(rows[0]->event->id, rows[1]->event->id) < 0
                     ? apr_pstrcat(pool, rows[0]->event->id, " ", rows[1]->event->id, NULL)
                     : apr_pstrcat(pool, rows[1]->event->id, " ", rows[0]->event->id, NULL));

    /* the second event's id taken: the batch rolls back, each row alone */
    ra_store_row_t *c = apr_pmemdup(pool, row_of(pool, T1, "c", "third"), sizeof(*c));
    ra_store_row_t *d = apr_pmemdup(pool, row_of(pool, T1, "d", "fourth"), sizeof(*d));
    c->event = ra_audit_event_make(pool, RA_AUDIT_CREATE, T1, &actor, "corr", apr_time_now(),
                                   NULL, c->partner);
    d->event = apr_pmemdup(pool, rows[0]->event, sizeof(*d->event));
    const ra_store_row_t *again[] = { c, d };
    ra_store_insert_batch(pool, &conn, again, 2, results, errors);
    ck_assert_int_eq(results[0], RA_STORE_DONE);
    ck_assert_int_eq(results[1], RA_STORE_FAILED);
    ck_assert_str_eq(row_count(h), "3");
    ck_assert_str_eq(query_value(h, "SELECT count(*) FROM " RA_AUDIT_TABLE), "3");
    close_db(h);
}
END_TEST

/* A statement failing inside the batch: the batch is rolled back and the
 * rows go one by one, so the good ones are created and the bad one alone
 * fails; a row that the batch's own earlier commit stored (its ETag is
 * there) counts as created, not as taken. */
START_TEST(insert_batch_failure_retries_rows_one_by_one)
{
    setup_db();
    apr_dbd_t *h = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    const ra_store_row_t *landed = row_of(pool, T1, "landed", "landed before");
    const ra_store_row_t *rows[] = {
        row_of(pool, T1, "good-1", "good"), row_of(pool, T1, "bad", "poison"),
        landed, row_of(pool, T1, "good-2", "good"), row_of(pool, T1, "good-1", "twin"),
    };
    ra_store_result_e results[5];
    const char *errors[5];

    insert(&conn, T1, landed->partner); /* as if a commit whose answer was lost */
    refuse_poison(h);
    ra_store_insert_batch(pool, &conn, rows, 5, results, errors);
    ck_assert_int_eq(results[0], RA_STORE_DONE);
    ck_assert_int_eq(results[1], RA_STORE_FAILED);
    ck_assert_msg(strstr(errors[1], "poisoned"), "%s", errors[1]);
    ck_assert_int_eq(results[2], RA_STORE_DONE);
    ck_assert_int_eq(results[3], RA_STORE_DONE);
    ck_assert_int_eq(results[4], RA_STORE_CONFLICT);
    ck_assert_str_eq(row_count(h), "3");
    ck_assert_str_eq(column(h, T1, "bad", "count(*)"), "0");
    /* a row taken by another write (another ETag) stays a conflict */
    const ra_store_row_t *again[] = { row_of(pool, T1, "landed", "someone else"),
                                      row_of(pool, T1, "bad-2", "poison") };
    ra_store_insert_batch(pool, &conn, again, 2, results, errors);
    ck_assert_int_eq(results[0], RA_STORE_CONFLICT);
    ck_assert_int_eq(results[1], RA_STORE_FAILED);
    close_db(h);
}
END_TEST

/* Another writer holds SQLite's lock for longer than SQLite's busy timeout,
 * then commits: the batch's BEGIN is tried again after its pauses, and the
 * batch commits. */
static void *APR_THREAD_FUNC commit_later(apr_thread_t *thread, void *holder)
{
    apr_sleep(apr_time_from_msec(3 * RA_STORE_SQLITE_BUSY_TIMEOUT_MS));
    exec_sql(holder, "COMMIT");
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

START_TEST(insert_batch_waits_out_another_writer)
{
    setup_db();
    apr_dbd_t *h = open_db(), *holder = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    const ra_store_row_t *rows[] = { row_of(pool, T1, "w1", "w1"), row_of(pool, T1, "w2", "w2") };
    ra_store_result_e results[2];
    const char *errors[2];
    apr_thread_t *thread;
    apr_status_t rv;

    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, h));
    exec_sql(holder, "BEGIN IMMEDIATE");
    apr_time_t began = apr_time_now();
    ck_assert_int_eq(apr_thread_create(&thread, NULL, commit_later, holder, pool), APR_SUCCESS);
    ra_store_insert_batch(pool, &conn, rows, 2, results, errors);
    apr_interval_time_t waited = apr_time_now() - began;
    apr_thread_join(&rv, thread);
    close_db(holder);

    for (int i = 0; i < 2; i++) {
        ck_assert_msg(results[i] == RA_STORE_DONE, "row %d: %d (%s)", i, (int)results[i],
                      errors[i] ? errors[i] : "no error");
    }
    ck_assert_str_eq(row_count(h), "2");
    /* it did wait past the busy timeout: the try after a pause took it */
    ck_assert_msg(waited >= apr_time_from_msec(2 * RA_STORE_SQLITE_BUSY_TIMEOUT_MS),
                  "waited %" APR_TIME_T_FMT " ms", apr_time_as_msec(waited));
    close_db(h);
}
END_TEST

/* Another writer holds SQLite's lock past every timeout: the batch waits
 * about as long as one statement would, once and not once per row, and
 * then fails every row, having written none. */
START_TEST(insert_batch_waits_once_for_a_locked_database)
{
    setup_db();
    apr_dbd_t *h = open_db(), *holder = open_db();
    ra_store_conn_t conn = make_conn(h, 1);
    const ra_store_row_t *rows[] = { row_of(pool, T1, "w", "w"), row_of(pool, T1, "x", "x"),
                                     row_of(pool, T1, "y", "y"), row_of(pool, T1, "z", "z") };
    ra_store_result_e results[4];
    const char *errors[4];

    ck_assert_ptr_null(ra_store_connection_setup(pool, driver, h));
    exec_sql(holder, "BEGIN IMMEDIATE");
    apr_time_t began = apr_time_now();
    ra_store_insert_batch(pool, &conn, rows, 4, results, errors);
    apr_interval_time_t waited = apr_time_now() - began;
    exec_sql(holder, "COMMIT");
    close_db(holder);

    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(results[i], RA_STORE_FAILED);
        ck_assert_msg(errors[i] && strstr(errors[i], "locked"), "%s", errors[i]);
    }
    ck_assert_str_eq(row_count(h), "0");
    /* one patience (4.8 s), where one per row took 0.2 s + 4 x 4.8 s */
    ck_assert_msg(waited >= RA_STORE_SQLITE_WRITE_PATIENCE
                  && waited < 2 * RA_STORE_SQLITE_WRITE_PATIENCE,
                  "waited %" APR_TIME_T_FMT " ms", apr_time_as_msec(waited));
    close_db(h);
}
END_TEST

/* The threads of one child, each with its own connection, share a queue. */
#define WORKERS 16
#define PER_WORKER 40
typedef struct {
    ra_commit_queue_t *queue;
    ra_store_conn_t conn;
    apr_pool_t *pool;
    ra_commit_item_t items[PER_WORKER];
} worker_t;

static int worker_acquire(void *baton, ra_store_conn_t *conn, const char **error)
{
    (void)error;
    *conn = ((worker_t *)baton)->conn;
    return 1;
}

static void worker_release(void *baton)
{
    (void)baton;
}

/* Returns rather than calling apr_thread_exit(): with gcc 12's ASan, a thread
 * that ends through apr_thread_exit() reports a stack-buffer-underflow in
 * ASan's own sigaltstack interceptor (reproduced with nothing but APR). */
static void *APR_THREAD_FUNC work(apr_thread_t *thread, void *data)
{
    worker_t *w = data;
    ra_commit_access_t access = { worker_acquire, worker_release, w };
    (void)thread;
    for (int i = 0; i < PER_WORKER; i++) {
        ra_commit_submit(w->queue, &w->items[i], &access, w->pool);
    }
    return NULL;
}

START_TEST(commit_queue_shares_transactions_between_threads)
{
    worker_t workers[WORKERS];
    apr_thread_t *threads[WORKERS];
    ra_commit_queue_t *queue;
    apr_uint64_t batches, rows, reporting = 0, reported_rows = 0;
    int done = 0;

    setup_db();
    ck_assert_int_eq(ra_commit_queue_create(pool, 64, &queue), APR_SUCCESS);
    /* every fifth id is the same in all workers: one creates it, the
     * others find it taken */
    for (int w = 0; w < WORKERS; w++) {
        workers[w].queue = queue;
        workers[w].conn = make_conn(open_db(), 1);
        ck_assert_int_eq(apr_pool_create(&workers[w].pool, pool), APR_SUCCESS);
        for (int i = 0; i < PER_WORKER; i++) {
            const char *id = i % 5 ? apr_psprintf(pool, "w%d-%d", w, i)
                                   : apr_psprintf(pool, "shared-%d", i);
            memset(&workers[w].items[i], 0, sizeof(workers[w].items[i]));
            workers[w].items[i].row = *row_of(pool, T1, id, "x");
        }
    }
    for (int w = 0; w < WORKERS; w++) {
        ck_assert_int_eq(apr_thread_create(&threads[w], NULL, work, &workers[w], pool),
                         APR_SUCCESS);
    }
    for (int w = 0; w < WORKERS; w++) {
        apr_status_t rv;
        apr_thread_join(&rv, threads[w]);
    }
    apr_dbd_t *h = open_db();
    for (int w = 0; w < WORKERS; w++) {
        for (int i = 0; i < PER_WORKER; i++) {
            const ra_commit_item_t *item = &workers[w].items[i];
            const char *etag = column(h, T1, item->row.partner->values[RA_PROP_ID], "etag");
            ck_assert_msg(item->result == RA_STORE_DONE || item->result == RA_STORE_CONFLICT,
                          "%s: %d %s", item->row.partner->values[RA_PROP_ID], item->result,
                          item->error);
            /* created: its own row is there; taken: somebody else's is */
            ck_assert_ptr_nonnull(etag);
            ck_assert_int_eq(!strcmp(etag, item->row.partner->etag),
                             item->result == RA_STORE_DONE);
            ck_assert_int_ge(item->batch_size, 1);
            done += item->result == RA_STORE_DONE;
            reporting += item->reports_batch;
            reported_rows += item->reports_batch ? (apr_uint64_t)item->batch_size : 0;
        }
    }
    ck_assert_int_eq(done, WORKERS * PER_WORKER * 4 / 5 + PER_WORKER / 5);
    ck_assert_str_eq(row_count(h), apr_itoa(pool, done));
    ra_commit_stats(queue, &batches, &rows);
    ck_assert_uint_eq(rows, WORKERS * PER_WORKER);
    ck_assert_msg(batches < rows, "no transaction held more than one row (%lu)",
                  (unsigned long)batches);
    /* one row of each batch reports it to the metrics, with the batch's size */
    ck_assert_uint_eq(reporting, batches);
    ck_assert_uint_eq(reported_rows, rows);
    close_db(h);
}
END_TEST

static int refuse_acquire(void *baton, ra_store_conn_t *conn, const char **error)
{
    (void)baton, (void)conn;
    *error = "no database connection";
    return 0;
}

START_TEST(commit_queue_without_a_connection_fails_the_batch)
{
    ra_commit_queue_t *queue;
    ra_commit_item_t item;
    ra_commit_access_t access = { refuse_acquire, worker_release, NULL };

    setup_db();
    ck_assert_int_eq(ra_commit_queue_create(pool, 8, &queue), APR_SUCCESS);
    memset(&item, 0, sizeof(item));
    item.row = *row_of(pool, T1, "nowhere", "x");
    ra_commit_submit(queue, &item, &access, pool);
    ck_assert_int_eq(item.result, RA_STORE_FAILED);
    ck_assert_str_eq(item.error, "no database connection");
    apr_dbd_t *h = open_db();
    ck_assert_str_eq(row_count(h), "0");
    close_db(h);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *commit = db_tcase(s, "group commit");
    tcase_add_test(commit, insert_batch_commits_each_rows_outcome);
    tcase_add_test(commit, insert_batch_writes_the_events_of_the_rows_it_created);
    tcase_add_test(commit, a_read_only_connection_says_what_to_look_at);
    tcase_add_test(commit, insert_batch_failure_retries_rows_one_by_one);
    tcase_add_test(commit, insert_batch_waits_once_for_a_locked_database);
    tcase_add_test(commit, insert_batch_waits_out_another_writer);
    tcase_add_test(commit, commit_queue_shares_transactions_between_threads);
    tcase_add_test(commit, commit_queue_without_a_connection_fails_the_batch);
    TCase *tc = db_tcase(s, "setup");
    tcase_add_test(tc, statement_labels);
    tcase_add_test(tc, connection_setup_pragmas);
    tcase_add_test(tc, one_line_folds_line_breaks);

    tc = db_tcase(s, "statements");
    tcase_add_test(tc, insert_v1);
    tcase_add_test(tc, insert_defaults_and_beta);
    tcase_add_test(tc, insert_conflict_keeps_row);
    tcase_add_test(tc, insert_conflict_across_connections);
    tcase_add_test(tc, statements_missing_are_prepared_at_first_use);
    tcase_add_test(tc, prepare_statements_prepares_each_fixed_statement);
    tcase_add_test(tc, statements_run_while_another_thread_holds_apr_dbds_mutex);
    tcase_add_test(tc, prepare_statements_says_what_failed);
    tcase_add_test(tc, insert_check_constraint_fails);
    tcase_add_test(tc, invalid_datetime_fails);
    tcase_add_test(tc, insert_table_dropped_fails);
    tcase_add_test(tc, statements_after_schema_change);
    tcase_add_test(tc, full_database_is_not_prepared_again);
    tcase_add_test(tc, get_per_tenant);
    tcase_add_test(tc, replace_compare_and_swap);
    tcase_add_test(tc, delete_per_tenant_and_etag);

    tc = db_tcase(s, "lists");
    tcase_add_test(tc, filters_on_rows);
    tcase_add_test(tc, list_and_count_per_tenant);
    tcase_add_test(tc, reads_keep_their_statements);
    tcase_add_test(tc, query_timeout_stops_a_long_scan);
    tcase_add_test(tc, paging_with_nulls);
    tcase_add_test(tc, paging_by_instant);
    return s;
}
