/* Baseline for `make bench`: the fastest a single SQLite connection can
 * insert rows like the module's, with nothing but SQLite in the way.
 *
 *   sqlite_insert DB SCHEMA.sql FULL|NORMAL SECONDS
 *
 * Opens DB in WAL mode with the given synchronous level, creates the table
 * from SCHEMA.sql (the module's own sql/schema.sql), prepares the module's
 * INSERT once and runs it in autocommit (one transaction per row) with a new
 * random UUID per row until SECONDS have passed. Prints one JSON line:
 * inserts, seconds, per_sec, latency percentiles in ms, and the rows the
 * table gained (which must equal inserts). Exits non-zero on any SQLite
 * error; a number is never an error. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

/* The statement of include/ra_store.h (RA_STORE_INSERT_SQL), with SQLite's
 * placeholders instead of apr_dbd's %s. */
static const char insert_sql[] =
    "INSERT INTO remote_assistance_partners (id, display_name, onboarding_url, "
    "onboarding_status, last_connection_date_time, "
    "onboarding_request_expiry_date_time, api_version) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING";

/* The seed example's values (tools/devserver.py SEED_BODY). */
static const char *const values[] = { NULL, "Display Name value",
                                      "https://example.com/onboardingUrl/", "onboarding",
                                      "2016-12-31T23:58:36.6670033-08:00", NULL, "v1.0" };

static void die(sqlite3 *db, const char *what)
{
    fprintf(stderr, "sqlite_insert: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state;

static uint64_t next_random(void) /* xorshift64*: ids only need to be unique */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* A version 4 UUID, formatted as the module formats its ids. */
static void new_uuid(char out[37])
{
    unsigned char b[16];
    uint64_t hi = next_random(), lo = next_random();
    memcpy(b, &hi, 8);
    memcpy(b + 8, &lo, 8);
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15]);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long len;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fprintf(stderr, "sqlite_insert: cannot read %s: %s\n", path, strerror(errno));
        exit(1);
    }
    data = malloc((size_t)len + 1);
    if (!data || fread(data, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "sqlite_insert: cannot read %s\n", path);
        exit(1);
    }
    data[len] = '\0';
    fclose(f);
    return data;
}

static long long count_rows(sqlite3 *db)
{
    sqlite3_stmt *st;
    long long n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM remote_assistance_partners", -1, &st,
                           NULL) != SQLITE_OK) {
        die(db, "count");
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    size_t i = (size_t)(p / 100.0 * (double)n);
    return sorted[i >= n ? n - 1 : i];
}

int main(int argc, char **argv)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st;
    char pragma[64], id[37];
    double seconds, start, end, t0, t1;
    size_t n = 0, cap = 1 << 20;
    double *lat;

    if (argc != 5 || (strcmp(argv[3], "FULL") && strcmp(argv[3], "NORMAL"))
        || (seconds = atof(argv[4])) <= 0) {
        fprintf(stderr, "usage: %s DB SCHEMA.sql FULL|NORMAL SECONDS\n", argv[0]);
        return 2;
    }
    rng_state = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)&db << 16) ^ 0x9E3779B97F4A7C15ULL;
    lat = malloc(cap * sizeof(*lat));
    if (!lat) {
        die(NULL, "latencies");
    }
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) {
        die(db, "open");
    }
    snprintf(pragma, sizeof(pragma), "PRAGMA synchronous=%s", argv[3]);
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK
        || sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK
        || sqlite3_exec(db, read_file(argv[2]), NULL, NULL, NULL) != SQLITE_OK) {
        die(db, "setup");
    }
    if (sqlite3_prepare_v2(db, insert_sql, -1, &st, NULL) != SQLITE_OK) {
        die(db, "prepare");
    }
    long long before = count_rows(db);

    start = now_s();
    end = start + seconds;
    t0 = start;
    do {
        new_uuid(id);
        for (int i = 0; i < 7; i++) {
            const char *v = i == 0 ? id : values[i];
            int rc = v ? sqlite3_bind_text(st, i + 1, v, -1, SQLITE_STATIC)
                       : sqlite3_bind_null(st, i + 1);
            if (rc != SQLITE_OK) {
                die(db, "bind");
            }
        }
        if (sqlite3_step(st) != SQLITE_DONE) {
            die(db, "insert");
        }
        sqlite3_reset(st);
        t1 = now_s();
        if (n == cap) {
            cap *= 2;
            lat = realloc(lat, cap * sizeof(*lat));
            if (!lat) {
                die(NULL, "latencies");
            }
        }
        lat[n++] = (t1 - t0) * 1000.0;
        t0 = t1;
    } while (t1 < end);

    sqlite3_finalize(st);
    long long after = count_rows(db);
    sqlite3_close(db);
    qsort(lat, n, sizeof(*lat), cmp_double);
    double elapsed = t1 - start;
    printf("{\"synchronous\": \"%s\", \"inserts\": %zu, \"seconds\": %.3f, \"per_sec\": %.1f, "
           "\"p50_ms\": %.4f, \"p99_ms\": %.4f, \"p999_ms\": %.4f, \"max_ms\": %.4f, "
           "\"rows_added\": %lld, \"sqlite\": \"%s\"}\n",
           argv[3], n, elapsed, (double)n / elapsed, percentile(lat, n, 50),
           percentile(lat, n, 99), percentile(lat, n, 99.9), lat[n - 1], after - before,
           sqlite3_libversion());
    free(lat);
    return 0;
}
