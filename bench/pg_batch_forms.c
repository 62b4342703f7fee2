/* Issue 20 item 4 (bench/NOTES.md): one group-commit leader inserting
 * batches of n partners, with their audit events or without, the ways a
 * PostgreSQL batch can be sent, on the module's schema, outside the module:
 *   today     n = 1: the prepared single-row insert; n > 1: one multi-row
 *             INSERT ... VALUES ... ON CONFLICT DO NOTHING RETURNING etag run
 *             unprepared (PQexecParams, as apr_dbd_pgsql runs it); audited:
 *             BEGIN, that, the events' multi-row INSERT, COMMIT
 *   unnest    one prepared statement over arrays (text array literals): a
 *             data-modifying CTE inserting the partners and the events of
 *             the rows it created; UNNEST_PARTNERS=1: the partners alone
 *   pipeline  libpq pipeline: the prepared single-row insert per row (then
 *             the prepared event insert per row), one Sync
 * Prints per cell: batches, rows/s, median and p99 batch latency, and the
 * CPU the backend used per row (/proc, so run it on the server's host).
 * Not part of `make bench`:
 *   gcc -std=gnu11 -O2 -o pg_batch_forms bench/pg_batch_forms.c \
 *       -I/usr/include/postgresql -lpq
 *   ./pg_batch_forms "host=... dbname=... user=..." today|unnest|pipeline N AUDITED SECONDS
 * Every row is new (ids from the pid and a counter); the tables grow. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stddef.h>

#define COLS "tenant_id, id, display_name, onboarding_url, onboarding_status, " \
    "last_connection_date_time, last_connection_ticks, onboarding_request_expiry_date_time, " \
    "onboarding_request_expiry_ticks, etag, api_version"
#define ACOLS "tenant_id, id, activity_date_time, activity_ticks, category, " \
    "activity_type, activity_operation_type, correlation_id, actor_application, user_id, " \
    "user_principal_name, application_id, ip_address, user_permissions, resource_id, " \
    "resource_display_name, modified_properties"

static PGconn *c;
static long seq;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void ok(PGresult *r, const char *what)
{
    int s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_PIPELINE_SYNC) {
        fprintf(stderr, "%s: %s", what, PQerrorMessage(c)); exit(1);
    }
    PQclear(r);
}
static long backend_cpu_ticks(int pid)
{
    char p[64], b[1024]; snprintf(p, sizeof p, "/proc/%d/stat", pid);
    FILE *f = fopen(p, "r"); if (!f) return 0;
    size_t n = fread(b, 1, sizeof b - 1, f); fclose(f); b[n] = 0;
    char *s = strrchr(b, ')'); long ut = 0, st = 0; int i = 0;
    for (char *t = strtok(s + 2, " "); t; t = strtok(NULL, " "), i++) {
        if (i == 11) ut = atol(t);
        if (i == 12) { st = atol(t); break; }
    }
    return ut + st;
}
typedef struct { char id[40], etag[40], eid[40], tenant[40]; } row_t;
static const char *DN = "Contoso support", *URL = "https://contoso.example/onboard",
    *ST = "notOnboarded", *DT = "2026-12-07T01:00:00Z", *TK = "639011484000000000",
    *VER = "v1", *MOD = "[{\"displayName\":\"displayName\",\"newValue\":\"Contoso support\"}]";
static void make_rows(row_t *r, int n)
{
    for (int i = 0; i < n; i++, seq++) {
        snprintf(r[i].id, 40, "p-%d-%ld", getpid(), seq);
        snprintf(r[i].etag, 40, "W/\"%ld-%d\"", seq, rand());
        snprintf(r[i].eid, 40, "e-%d-%ld", getpid(), seq);
        snprintf(r[i].tenant, 40, "tenant-%ld", seq % 10);
    }
}
/* array literal of n copies or per-row strings */
static char *arr(row_t *r, int n, size_t off, const char *same, int quote)
{
    size_t cap = 64 + (size_t)n * 128; char *s = malloc(cap), *o = s; *o++ = '{';
    for (int i = 0; i < n; i++) {
        const char *v = same ? same : (const char *)&r[i] + off;
        if (i) *o++ = ',';
        if (quote) *o++ = '"';
        for (; *v; v++) { if (quote && (*v == '"' || *v == '\\')) *o++ = '\\'; *o++ = *v; }
        if (quote) *o++ = '"';
    }
    *o++ = '}'; *o = 0; return s;
}
#define UNNEST_SQL \
 "WITH p AS (INSERT INTO remote_assistance_partners (" COLS ") " \
 "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], " \
 "$7::bigint[], $8::text[], $9::bigint[], $10::text[], $11::text[]) " \
 "ON CONFLICT (tenant_id, id) DO NOTHING RETURNING etag), " \
 "e AS (INSERT INTO remoteassist_audit_events (" ACOLS ") " \
 "SELECT e.tenant_id, e.id, e.dt, e.ticks, $12, e.act, e.op, e.corr, e.app, e.uid, e.upn, e.appid, " \
 "e.ip, e.perm, e.rid, e.rname, e.mods FROM unnest($13::text[], $14::text[], $15::text[], $16::text[], " \
 "$17::bigint[], $18::text[], $19::text[], $20::text[], $21::int[], $22::text[], $23::text[], $24::text[], " \
 "$25::text[], $26::text[], $27::text[], $28::text[], $29::text[]) AS e(etag, tenant_id, id, dt, ticks, " \
 "act, op, corr, app, uid, upn, appid, ip, perm, rid, rname, mods) JOIN p USING (etag)) " \
 "SELECT etag FROM p"

static void batch_unnest(row_t *r, int n, int audited)
{
    const char *v[29]; int ne = audited ? n : 0;
    v[0] = arr(r, n, offsetof(row_t, tenant), NULL, 1); v[1] = arr(r, n, offsetof(row_t, id), NULL, 1);
    v[2] = arr(r, n, 0, DN, 1); v[3] = arr(r, n, 0, URL, 1); v[4] = arr(r, n, 0, ST, 1);
    v[5] = arr(r, n, 0, DT, 1); v[6] = arr(r, n, 0, TK, 0); v[7] = arr(r, n, 0, DT, 1);
    v[8] = arr(r, n, 0, TK, 0); v[9] = arr(r, n, offsetof(row_t, etag), NULL, 1); v[10] = arr(r, n, 0, VER, 1);
    v[11] = "Device";
    v[12] = arr(r, ne, offsetof(row_t, etag), NULL, 1); v[13] = arr(r, ne, offsetof(row_t, tenant), NULL, 1);
    v[14] = arr(r, ne, offsetof(row_t, eid), NULL, 1); v[15] = arr(r, ne, 0, DT, 1); v[16] = arr(r, ne, 0, TK, 0);
    v[17] = arr(r, ne, 0, "Create RemoteAssistancePartner", 1); v[18] = arr(r, ne, 0, "Create", 1);
    v[19] = arr(r, ne, offsetof(row_t, eid), NULL, 1); v[20] = arr(r, ne, 0, "1", 0);
    v[21] = arr(r, ne, 0, "user-1", 1); v[22] = arr(r, ne, 0, "admin@contoso.example", 1);
    v[23] = arr(r, ne, 0, "app-1", 1); v[24] = arr(r, ne, 0, "127.0.0.1", 1);
    v[25] = arr(r, ne, 0, "DeviceManagementRBAC.ReadWrite.All", 1);
    v[26] = arr(r, ne, offsetof(row_t, id), NULL, 1); v[27] = arr(r, ne, 0, DN, 1); v[28] = arr(r, ne, 0, MOD, 1);
    PGresult *res = PQexecPrepared(c, getenv("UNNEST_PARTNERS") ? "ub1" : "ub", getenv("UNNEST_PARTNERS") ? 11 : 29, v, NULL, NULL, 0);
    if (PQntuples(res) != n) { fprintf(stderr, "unnest: %d rows\n", PQntuples(res)); }
    ok(res, "unnest");
    for (int i = 0; i < 29; i++) if (i != 11) free((void *)v[i]);
}
static void events_values(row_t *r, int n, int nonblocking)
{
    /* today's generated multi-row VALUES for events, 16 params a row + category */
    size_t cap = 256 + (size_t)n * 200; char *sql = malloc(cap), *o = sql;
    o += sprintf(o, "INSERT INTO remoteassist_audit_events (" ACOLS ") VALUES ");
    const char **v = malloc(sizeof(char *) * 17 * (size_t)n); int k = 0;
    for (int i = 0; i < n; i++) {
        o += sprintf(o, "%s(", i ? ", " : "");
        const char *vals[17] = { r[i].tenant, r[i].eid, DT, TK, "Device", "Create RemoteAssistancePartner",
            "Create", r[i].eid, "1", "user-1", "admin@contoso.example", "app-1", "127.0.0.1",
            "DeviceManagementRBAC.ReadWrite.All", r[i].id, DN, MOD };
        for (int j = 0; j < 17; j++) { v[k] = vals[j]; o += sprintf(o, "%s$%d", j ? ", " : "", ++k); }
        o += sprintf(o, ")");
    }
    sprintf(o, " RETURNING id");
    if (nonblocking) PQsendQueryParams(c, sql, k, NULL, v, NULL, NULL, 0);
    else ok(PQexecParams(c, sql, k, NULL, v, NULL, NULL, 0), "events");
    free(sql); free(v);
}
static void batch_today(row_t *r, int n, int audited)
{
    if (audited) ok(PQexec(c, "BEGIN"), "begin");
    if (n == 1) {
        const char *v[11] = { r[0].tenant, r[0].id, DN, URL, ST, DT, TK, DT, TK, r[0].etag, VER };
        ok(PQexecPrepared(c, "ins", 11, v, NULL, NULL, 0), "ins");
    }
    else {
        size_t cap = 512 + (size_t)n * 120; char *sql = malloc(cap), *o = sql;
        o += sprintf(o, "INSERT INTO remote_assistance_partners (" COLS ") VALUES ");
        const char **v = malloc(sizeof(char *) * 11 * (size_t)n); int k = 0;
        for (int i = 0; i < n; i++) {
            const char *vals[11] = { r[i].tenant, r[i].id, DN, URL, ST, DT, TK, DT, TK, r[i].etag, VER };
            o += sprintf(o, "%s(", i ? ", " : "");
            for (int j = 0; j < 11; j++) { v[k] = vals[j]; o += sprintf(o, "%s$%d", j ? ", " : "", ++k); }
            o += sprintf(o, ")");
        }
        sprintf(o, " ON CONFLICT (tenant_id, id) DO NOTHING RETURNING etag");
        ok(PQexecParams(c, sql, k, NULL, v, NULL, NULL, 0), "values");
        free(sql); free(v);
    }
    if (audited) { events_values(r, n, 0); ok(PQexec(c, "COMMIT"), "commit"); }
}
static void batch_pipeline(row_t *r, int n, int audited)
{
    PQenterPipelineMode(c);
    if (audited) PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    for (int i = 0; i < n; i++) {
        const char *v[11] = { r[i].tenant, r[i].id, DN, URL, ST, DT, TK, DT, TK, r[i].etag, VER };
        PQsendQueryPrepared(c, "insr", 11, v, NULL, NULL, 0);
    }
    for (int i = 0; audited && i < n; i++) {
        const char *v[17] = { r[i].tenant, r[i].eid, DT, TK, "Device", "Create RemoteAssistancePartner",
            "Create", r[i].eid, "1", "user-1", "admin@contoso.example", "app-1", "127.0.0.1",
            "DeviceManagementRBAC.ReadWrite.All", r[i].id, DN, MOD };
        PQsendQueryPrepared(c, "ev", 17, v, NULL, NULL, 0);
    }
    if (audited) PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
    PQpipelineSync(c);
    int cmds = n * (audited ? 2 : 1) + (audited ? 2 : 0);
    for (int i = 0; i < cmds; i++) {
        PGresult *res = PQgetResult(c); ok(res, "pipelined");
        if ((res = PQgetResult(c))) { fprintf(stderr, "extra result\n"); exit(1); }
    }
    ok(PQgetResult(c), "sync");
    PQexitPipelineMode(c);
}
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s CONNINFO today|unnest|pipeline N AUDITED SECONDS\n", argv[0]);
        return 2;
    }
        c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK) { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
    const char *mode = argv[2]; int n = atoi(argv[3]), audited = atoi(argv[4]); double secs = atof(argv[5]);
    srand(getpid());
    ok(PQprepare(c, "ins", "INSERT INTO remote_assistance_partners (" COLS ") VALUES "
        "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (tenant_id, id) DO NOTHING", 11, NULL), "p1");
    ok(PQprepare(c, "insr", "INSERT INTO remote_assistance_partners (" COLS ") VALUES "
        "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (tenant_id, id) DO NOTHING RETURNING etag", 11, NULL), "p2");
    ok(PQprepare(c, "ev", "INSERT INTO remoteassist_audit_events (" ACOLS ") VALUES "
        "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)", 17, NULL), "p3");
    ok(PQprepare(c, "ub", UNNEST_SQL, 29, NULL), "p4");
    ok(PQprepare(c, "ub1", "INSERT INTO remote_assistance_partners (" COLS ") "
 "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
 "$7::bigint[], $8::text[], $9::bigint[], $10::text[], $11::text[]) "
 "ON CONFLICT (tenant_id, id) DO NOTHING RETURNING etag", 11, NULL), "p5");
    row_t *r = malloc(sizeof(row_t) * (size_t)n);
    double *lat = malloc(sizeof(double) * 1000000); long nb = 0;
    int pid = PQbackendPID(c);
    /* warm up */
    for (int i = 0; i < 20; i++) { make_rows(r, n); batch_today(r, n, audited); }
    long cpu0 = backend_cpu_ticks(pid); double t0 = now(), t;
    while ((t = now()) - t0 < secs) {
        make_rows(r, n);
        if (!strcmp(mode, "today")) batch_today(r, n, audited);
        else if (!strcmp(mode, "unnest")) batch_unnest(r, n, audited);
        else batch_pipeline(r, n, audited);
        lat[nb++] = now() - t;
    }
    double el = now() - t0; long cpu = backend_cpu_ticks(pid) - cpu0;
    qsort(lat, (size_t)nb, sizeof(double), cmp);
    printf("%-8s n=%-2d audited=%d batches=%ld rows/s=%.0f median=%.0fus p99=%.0fus backend_cpu/row=%.1fus\n",
           mode, n, audited, nb, nb * n / el, lat[nb / 2] * 1e6, lat[nb * 99 / 100] * 1e6,
           cpu * 1e6 / sysconf(_SC_CLK_TCK) / (double)(nb * n));
    PQfinish(c);
    return 0;
}
