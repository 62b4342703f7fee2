/* Storage of partners through apr_dbd (SQLite and PostgreSQL). The module
 * reaches the database through mod_dbd's connection pool; this unit holds
 * the statements and the driver-facing logic, with no httpd symbols, so it
 * is tested against a real SQLite file. Every value is bound as a
 * parameter: fixed statements are prepared on each pooled connection (on
 * PostgreSQL through apr_dbd, under the labels below; on SQLite on the
 * native handle, as every SQLite statement of the module runs: see
 * ra_store.c), and a list or count runs the SQL ra_sql.h generates. The
 * schema and its upgrade are ra_schema.h's. */
#ifndef RA_STORE_H
#define RA_STORE_H

#include <apr_dbd.h>
#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "ra_audit.h"
#include "ra_entity.h"
#include "ra_query.h"
#include "ra_sql.h"

/* SQLite's own busy handler waits this long for another process's write
 * lock before a statement sees SQLITE_BUSY; the module then pauses 100 ms
 * and tries again, until RA_STORE_SQLITE_WRITE_PATIENCE has passed. */
#define RA_STORE_SQLITE_BUSY_TIMEOUT_MS 200

/* How long a SQLite statement (a create batch's BEGIN once for all its
 * rows) waits in all for another writer: about 16 x 300 ms, then 503. The
 * patience apr_dbd_sqlite3's own retries had, kept when the module stopped
 * running its statements through that driver. */
#define RA_STORE_SQLITE_WRITE_PATIENCE (16 * apr_time_from_msec(300))

/* The statements prepared on every pooled connection. Labels are plain
 * identifiers: PostgreSQL uses them as prepared statement names, under
 * which mod_dbd's per-connection hash keeps them. */
typedef enum {
    RA_STMT_INSERT,
    RA_STMT_GET,
    RA_STMT_REPLACE,    /* every property and a new ETag, if the ETag is still the one read */
    RA_STMT_DELETE,
    RA_STMT_DELETE_IF,  /* only while the ETag is the given one */
    RA_STMT_TOUCH,      /* rewrites a row unchanged: a commit that waits for replication */
    RA_STMT_EVENT,      /* one audit event, in its write's transaction */
    RA_STMT_INSERT_EVENT, /* PostgreSQL only: a row's audit event, if the row is the one
                           * with its ETag (a pipelined batch, ra_store_insert_batch) */
    RA_STMT_KINDS
} ra_stmt_e;

const char *ra_store_statement_label(ra_stmt_e stmt);
const char *ra_store_statement_sql(ra_stmt_e stmt);

/* Per new pooled connection: SQLite busy timeout and synchronous=FULL (a
 * later DBDInitSQL may change the latter). NULL or an error message. */
const char *ra_store_connection_setup(apr_pool_t *pool, const apr_dbd_driver_t *driver,
                                      apr_dbd_t *handle);

/* A pooled connection, as mod_dbd's ap_dbd_t holds it. */
typedef struct {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_pool_t *pool;       /* the connection's own pool */
    apr_hash_t *prepared;   /* mod_dbd's per-connection hash: PostgreSQL's statements
                             * (label -> apr_dbd_prepared_t *), and the module's own
                             * state of the connection under keys no label can be */
    /* how long one list or count statement may run (RemoteAssistQueryTimeout);
     * 0: no bound. On PostgreSQL also the client-side bound of every round
     * trip of the module's (ra_watchdog.h), the commit's wait for
     * synchronous replication included */
    apr_interval_time_t query_timeout;
} ra_store_conn_t;

/* PostgreSQL, per new pooled connection (after ra_store_connection_setup):
 * the module's notice receiver, which tells a write whose commit's wait for
 * synchronous replication was cancelled (RA_STORE_UNREPLICATED), and the
 * watch that bounds its round trips, kept in conn->prepared. Once per
 * connection; nothing on SQLite. */
void ra_store_connection_observe(const ra_store_conn_t *conn);

/* SQLite: finalizes the statements this module keeps prepared on the
 * connection (the fixed ones, its transactions', and those of generated
 * reads, prepared once per text), as the connection's pool does when it is
 * destroyed; for whoever closes the handle first (sqlite3_close refuses a
 * connection with a statement left). Nothing on PostgreSQL. */
void ra_store_connection_release(const ra_store_conn_t *conn);

/* Prepares every fixed statement on a new connection (after its settings).
 * NULL, or what failed; a statement missing is prepared when first used. */
const char *ra_store_prepare_statements(const ra_store_conn_t *conn);

/* Whether the fixed statement which is prepared on conn. */
int ra_store_statement_prepared(const ra_store_conn_t *conn, ra_stmt_e which);

typedef enum {
    RA_STORE_DONE,      /* created, found, replaced or deleted (and committed) */
    RA_STORE_CONFLICT,  /* insert: the tenant already has that id */
    RA_STORE_MISSING,   /* no such row, or not with the expected ETag */
    RA_STORE_FAILED,    /* nothing written; *error says why */
    RA_STORE_TIMED_OUT, /* a list or count ran past conn->query_timeout and was
                         * stopped; the connection serves on (or, when the server
                         * did not answer at all, was closed) */
    RA_STORE_UNREPLICATED /* PostgreSQL: a write that may be committed on the primary
                           * but is not known to be on a synchronous standby (its wait
                           * was cancelled, or it got no answer within
                           * conn->query_timeout); a failover may lose it, so it is
                           * answered as a failure, and a later try settles it */
} ra_store_result_e;

/* Audited writes: a write given an event (ra_audit.h) writes it in the same
 * transaction as its change, and only when the change happened: both
 * commit or neither does. NULL: the write alone, in one autocommit
 * statement. */

/* Inserts partner (id and etag set) for tenant in one autocommit statement
 * (not audited: audited creates go through ra_store_insert_batch).
 * On PostgreSQL an id found taken is RA_STORE_CONFLICT, or RA_STORE_DONE
 * when the row carries this partner's ETag (an earlier try of this very
 * create committed), only once a write of its own has waited for
 * synchronous replication (so the row is on the standby); else
 * RA_STORE_UNREPLICATED or RA_STORE_FAILED. After a lost connection the
 * insert runs once more on a fresh one. */
ra_store_result_e ra_store_insert(apr_pool_t *pool, const ra_store_conn_t *conn,
                                  const char *tenant, const ra_partner_t *partner,
                                  ra_version_e version, const char **error);

/* One row to insert: the partner (id and etag set), its tenant, and the API
 * version it was created through. */
typedef struct {
    const char *tenant;
    const ra_partner_t *partner;
    ra_version_e version;
    const ra_audit_event_t *event;  /* its audit event; NULL: not audited */
} ra_store_row_t;

/* Inserts n rows in one transaction, one round trip, one commit. SQLite:
 * each row's prepared insert in turn (ON CONFLICT DO NOTHING: a row it
 * skips had its id taken) and, for a row it created, its event's.
 * PostgreSQL: the prepared insert of each row, then the prepared insert of
 * each event, sent as one libpq pipeline that one Sync commits (an
 * implicit transaction: atomic). results[i]
 * and errors[i] get each row's own outcome: RA_STORE_CONFLICT for an id its
 * tenant has, including one an earlier row of the batch took. If the batch
 * fails, nothing of it is written and the rows are inserted one by one, each
 * in its own autocommit statement; a row then found taken with this very
 * row's ETag was written by the batch after all (its answer was lost) and is
 * RA_STORE_DONE; so is one found taken with its own ETag when the batch
 * succeeds: an earlier attempt at this batch committed it and died before it
 * could say so (ra_commit_shared.h). So no row is reported created unless it
 * is committed, nor failed or taken when its own insert committed. On SQLite
 * one row is the prepared insert. Rows with an event: the batch, and each
 * row after a failed batch, is one transaction with the events of the rows
 * it created (a row more in it, not another commit).
 * On PostgreSQL a batch whose commit is not known to be replicated
 * (RA_STORE_UNREPLICATED) makes every row of it so, and a row found taken
 * is settled as ra_store_insert's is (a write that waits for replication,
 * then its ETag). */
void ra_store_insert_batch(apr_pool_t *pool, const ra_store_conn_t *conn,
                           const ra_store_row_t *const *rows, int n,
                           ra_store_result_e *results, const char **errors);

/* Reads the tenant's partner id into *partner (etag included). */
ra_store_result_e ra_store_get(apr_pool_t *pool, const ra_store_conn_t *conn,
                               const char *tenant, const char *id, ra_partner_t *partner,
                               const char **error);

/* Writes every property of partner and its (new) etag, if the row still has
 * expected_etag: RA_STORE_MISSING when it is gone or was changed since. */
ra_store_result_e ra_store_replace(apr_pool_t *pool, const ra_store_conn_t *conn,
                                   const char *tenant, const ra_partner_t *partner,
                                   const char *expected_etag, const ra_audit_event_t *event,
                                   const char **error);

/* Deletes the tenant's partner id; with expected_etag only that version. */
ra_store_result_e ra_store_delete(apr_pool_t *pool, const ra_store_conn_t *conn,
                                  const char *tenant, const char *id,
                                  const char *expected_etag, const ra_audit_event_t *event,
                                  const char **error);

/* Counts the tenant's partners that match filter (NULL: all). This and
 * ra_store_list stop at conn->query_timeout with RA_STORE_TIMED_OUT. */
ra_store_result_e ra_store_count(apr_pool_t *pool, const ra_store_conn_t *conn,
                                 const char *tenant, const ra_qnode_t *filter,
                                 apr_int64_t *count, const char **error);

/* Called for each row of a list, in order. The partner's values are the
 * driver's, valid only during the call: a list page is written as it is
 * read, with no copy of its rows. */
typedef void (*ra_store_partner_fn)(const ra_partner_t *partner, void *baton);

/* Up to limit of the tenant's partners that match the query, in its order,
 * after its $skiptoken position, skipping offset rows: each(partner, baton)
 * per row. On RA_STORE_TIMED_OUT or RA_STORE_FAILED some rows may already
 * have been handed to each. */
ra_store_result_e ra_store_list(apr_pool_t *pool, const ra_store_conn_t *conn,
                                const char *tenant, const ra_query_t *query,
                                apr_int64_t limit, apr_int64_t offset,
                                ra_store_partner_fn each, void *baton, const char **error);

/* Up to limit of the tenant's audit events that match query (whose set is
 * RA_ENTITY_SET_AUDIT), as ra_store_list: ra_audit_event_t in *rows. */
ra_store_result_e ra_store_audit_list(apr_pool_t *pool, const ra_store_conn_t *conn,
                                      const char *tenant, const ra_query_t *query,
                                      apr_int64_t limit, apr_int64_t offset,
                                      apr_array_header_t **rows, const char **error);

/* Counts the tenant's audit events that match filter (NULL: all). */
ra_store_result_e ra_store_audit_count(apr_pool_t *pool, const ra_store_conn_t *conn,
                                       const char *tenant, const ra_qnode_t *filter,
                                       apr_int64_t *count, const char **error);

/* Reads the tenant's audit event id into *event. */
ra_store_result_e ra_store_audit_get(apr_pool_t *pool, const ra_store_conn_t *conn,
                                     const char *tenant, const char *id,
                                     ra_audit_event_t *event, const char **error);

/* Removes at most limit audit events (of any tenant) older than before
 * (ticks), oldest first; *removed gets how many. */
ra_store_result_e ra_store_audit_purge(apr_pool_t *pool, const ra_store_conn_t *conn,
                                       apr_int64_t before, apr_int64_t limit,
                                       int *removed, const char **error);

#endif
