/* Baseline for `make bench`: the module's statements run on SQLite in a
 * loop, with nothing but SQLite in the way. A small pgbench for SQLite: it
 * runs the same script files as pgbench does on PostgreSQL.
 *
 *   sqlite_script DB FULL|NORMAL SECONDS THREADS SCRIPT [-M prepared|extended]
 *                 [-D NAME=TEXT]... [-I NAME=INTEGER]...
 *
 * Each thread opens its own connection to DB (an existing database in WAL
 * mode) with the given synchronous level and runs SCRIPT over and over in
 * autocommit until SECONDS have passed. SCRIPT takes pgbench's syntax, one
 * command a line:
 *   \set NAME random(LO, HI)    a uniform random integer, bound as text
 *   SQL;                        :NAME placeholders, bound from variables
 *   SQL \gset PREFIX            one row expected; its columns become the
 *                               variables PREFIX<column name>
 * -D and -I define variables bound as text and as integers (the module binds
 * apr_dbd's %lld as an integer). -M prepared (the default) prepares each
 * statement once per connection; -M extended prepares, runs and finalizes it
 * every time, as the module does with the SQL it generates. Every column of
 * every row read is fetched as text, as the module reads it; a write must
 * change exactly one row. Prints one JSON object: iterations (one run of the
 * script each), seconds, per_sec, latency percentiles of an iteration in ms
 * and rows_read (rows returned outside \gset). Exits non-zero on any SQLite
 * error or a failed expectation; a number is never an error. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#define MAX_VARS 64
#define MAX_COMMANDS 16
#define MAX_COLUMNS 32

typedef struct {
    char *text;      /* NULL: undefined (or SQL NULL from \gset) */
    size_t cap;
    int is_int;
    sqlite3_int64 number;
    int defined;
} value_t;

typedef struct {
    int is_set;              /* \set NAME random(lo, hi) */
    int var;
    long long lo, hi;
    char *sql;
    const char *gset;        /* prefix, or NULL */
    int nparams, params[MAX_VARS];      /* parameter i+1 -> variable */
    int ncols, cols[MAX_COLUMNS];       /* \gset: column i -> variable */
} command_t;

static const char *db_path, *synchronous;
static double seconds;
static int reprepare;
static char *var_names[MAX_VARS];
static value_t defaults[MAX_VARS];
static int nvars;
static command_t commands[MAX_COMMANDS];
static int ncommands;

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "sqlite_script: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static int var_index(const char *name)
{
    for (int i = 0; i < nvars; i++) {
        if (!strcmp(var_names[i], name)) {
            return i;
        }
    }
    if (nvars == MAX_VARS) {
        fail("too many variables", name);
    }
    var_names[nvars] = strdup(name);
    return nvars++;
}

static void set_text(value_t *v, const char *text, size_t len)
{
    if (len + 1 > v->cap) {
        v->cap = len + 64;
        if (!(v->text = realloc(v->text, v->cap))) {
            fail("out of memory", NULL);
        }
    }
    memcpy(v->text, text, len);
    v->text[len] = '\0';
    v->is_int = 0;
    v->defined = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long len;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fail("cannot read the script", strerror(errno));
    }
    data = malloc((size_t)len + 1);
    if (!data || fread(data, 1, (size_t)len, f) != (size_t)len) {
        fail("cannot read the script", path);
    }
    data[len] = '\0';
    fclose(f);
    return data;
}

static void parse_script(const char *path)
{
    char *state, *line;
    for (line = strtok_r(read_file(path), "\n", &state); line;
         line = strtok_r(NULL, "\n", &state)) {
        size_t len = strlen(line);
        while (len && (line[len - 1] == ' ' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }
        if (!len || !strncmp(line, "--", 2)) {
            continue;
        }
        if (ncommands == MAX_COMMANDS) {
            fail("too many commands", path);
        }
        command_t *c = &commands[ncommands++];
        char name[64];
        char *gset = strstr(line, " \\gset ");
        if (!strncmp(line, "\\set ", 5)) {
            if (sscanf(line, "\\set %63s random(%lld, %lld)", name, &c->lo, &c->hi) != 3
                || c->hi < c->lo) {
                fail("only \\set NAME random(LO, HI) is understood", line);
            }
            c->is_set = 1;
            c->var = var_index(name);
        }
        else if (gset) {
            *gset = '\0';
            c->sql = line;
            c->gset = gset + 7;
        }
        else if (line[len - 1] == ';') {
            line[len - 1] = '\0';
            c->sql = line;
        }
        else {
            fail("a command ends with ; or \\gset PREFIX", line);
        }
    }
}

/* Maps each statement's :NAME parameters to variables once. */
static void resolve_params(sqlite3 *db)
{
    for (int i = 0; i < ncommands; i++) {
        command_t *c = &commands[i];
        sqlite3_stmt *st;
        if (c->is_set) {
            continue;
        }
        if (sqlite3_prepare_v2(db, c->sql, -1, &st, NULL) != SQLITE_OK) {
            fail(sqlite3_errmsg(db), c->sql);
        }
        c->nparams = sqlite3_bind_parameter_count(st);
        for (int p = 1; p <= c->nparams; p++) {
            const char *name = sqlite3_bind_parameter_name(st, p);
            if (!name || name[0] != ':') {
                fail("every parameter must be a :NAME", c->sql);
            }
            c->params[p - 1] = var_index(name + 1);
        }
        if (c->gset) {
            c->ncols = sqlite3_column_count(st);
            if (c->ncols > MAX_COLUMNS) {
                fail("too many columns", c->sql);
            }
            for (int k = 0; k < c->ncols; k++) {
                char name[128];
                snprintf(name, sizeof(name), "%s%s", c->gset, sqlite3_column_name(st, k));
                c->cols[k] = var_index(name);
            }
        }
        sqlite3_finalize(st);
    }
}

typedef struct {
    int index;
    uint64_t rng;
    double *lat;
    size_t n, cap;
    long long rows_read;
    double end;
} worker_t;

static double start_time;
/* The threads connect and prepare first; the clock starts once all have. */
static pthread_barrier_t ready, go;

static uint64_t next_random(uint64_t *s) /* xorshift64* */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void run_statement(sqlite3 *db, sqlite3_stmt **prepared, command_t *c, value_t *vars,
                          value_t *staging, worker_t *w)
{
    sqlite3_stmt *st = *prepared;
    int rc, rows = 0;

    if (!st && sqlite3_prepare_v2(db, c->sql, -1, &st, NULL) != SQLITE_OK) {
        fail(sqlite3_errmsg(db), c->sql);
    }
    for (int p = 0; p < c->nparams; p++) {
        const value_t *v = &vars[c->params[p]];
        if (!v->defined) {
            fail("undefined variable", var_names[c->params[p]]);
        }
        rc = v->is_int ? sqlite3_bind_int64(st, p + 1, v->number)
             : v->text ? sqlite3_bind_text(st, p + 1, v->text, -1, SQLITE_STATIC)
                       : sqlite3_bind_null(st, p + 1);
        if (rc != SQLITE_OK) {
            fail(sqlite3_errmsg(db), c->sql);
        }
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int ncols = sqlite3_column_count(st);
        rows++;
        for (int k = 0; k < ncols; k++) {
            const char *text = (const char *)sqlite3_column_text(st, k);
            size_t len = (size_t)sqlite3_column_bytes(st, k);
            if (c->gset && text) {
                set_text(&staging[k], text, len);
            }
            else if (c->gset) {
                staging[k].defined = 1;
                free(staging[k].text);
                staging[k].text = NULL;
                staging[k].cap = 0;
            }
        }
    }
    if (rc != SQLITE_DONE) {
        fail(sqlite3_errmsg(db), c->sql);
    }
    if (c->gset) {
        if (rows != 1) {
            char got[48];
            snprintf(got, sizeof(got), "\\gset expected one row, got %d", rows);
            fail(got, c->sql);
        }
        for (int k = 0; k < c->ncols; k++) { /* the bound values stayed intact until now */
            value_t swap = vars[c->cols[k]];
            vars[c->cols[k]] = staging[k];
            staging[k] = swap;
        }
    }
    else {
        w->rows_read += rows;
    }
    if (!sqlite3_stmt_readonly(st) && sqlite3_changes(db) != 1) {
        fail("a write changed no row or several", c->sql);
    }
    if (*prepared) {
        sqlite3_reset(st);
    }
    else {
        sqlite3_finalize(st);
    }
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    sqlite3 *db = NULL;
    sqlite3_stmt *prepared[MAX_COMMANDS] = { 0 };
    value_t *vars = calloc(MAX_VARS, sizeof(*vars)), staging[MAX_COLUMNS] = { { 0 } };
    char pragma[64];

    if (!vars || sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                 NULL) != SQLITE_OK) {
        fail("open", db ? sqlite3_errmsg(db) : db_path);
    }
    snprintf(pragma, sizeof(pragma), "PRAGMA synchronous=%s", synchronous);
    /* the busy timeout first: the first statement reads the WAL index, which
     * the module's children (checkpointing) may hold for a moment */
    if (sqlite3_exec(db, "PRAGMA busy_timeout=5000", NULL, NULL, NULL) != SQLITE_OK
        || sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
        fail("set-up", sqlite3_errmsg(db));
    }
    for (int i = 0; i < nvars; i++) {
        vars[i] = defaults[i];
        if (defaults[i].text) {
            vars[i].text = NULL;
            vars[i].cap = 0;
            set_text(&vars[i], defaults[i].text, strlen(defaults[i].text));
        }
    }
    for (int i = 0; !reprepare && i < ncommands; i++) {
        if (!commands[i].is_set
            && sqlite3_prepare_v2(db, commands[i].sql, -1, &prepared[i], NULL) != SQLITE_OK) {
            fail(sqlite3_errmsg(db), commands[i].sql);
        }
    }
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&go);
    double end = start_time + seconds, t0 = start_time, t1;
    do {
        for (int i = 0; i < ncommands; i++) {
            command_t *c = &commands[i];
            if (c->is_set) {
                char number[24];
                uint64_t span = (uint64_t)(c->hi - c->lo) + 1;
                snprintf(number, sizeof(number), "%lld",
                         c->lo + (long long)(span ? next_random(&w->rng) % span
                                                  : next_random(&w->rng)));
                set_text(&vars[c->var], number, strlen(number));
            }
            else {
                run_statement(db, &prepared[i], c, vars, staging, w);
            }
        }
        t1 = now_s();
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 1 << 16;
            if (!(w->lat = realloc(w->lat, w->cap * sizeof(*w->lat)))) {
                fail("out of memory", NULL);
            }
        }
        w->lat[w->n++] = (t1 - t0) * 1000.0;
        t0 = t1;
    } while (t1 < end);
    w->end = t1;
    for (int i = 0; i < ncommands; i++) {
        sqlite3_finalize(prepared[i]);
    }
    sqlite3_close(db);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p)
{
    size_t i = (size_t)(p / 100.0 * (double)n);
    return n ? sorted[i >= n ? n - 1 : i] : 0;
}

static void define(const char *arg, int is_int)
{
    const char *eq = strchr(arg, '=');
    char name[128];
    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name)) {
        fail("-D and -I take NAME=VALUE", arg);
    }
    memcpy(name, arg, (size_t)(eq - arg));
    name[eq - arg] = '\0';
    value_t *v = &defaults[var_index(name)];
    if (is_int) {
        char *end;
        v->number = strtoll(eq + 1, &end, 10);
        if (*end || end == eq + 1) {
            fail("-I takes an integer", arg);
        }
        v->is_int = v->defined = 1;
    }
    else {
        set_text(v, eq + 1, strlen(eq + 1));
    }
}

int main(int argc, char **argv)
{
    int threads;

    if (argc < 6 || (strcmp(argv[2], "FULL") && strcmp(argv[2], "NORMAL"))
        || (seconds = atof(argv[3])) <= 0 || (threads = atoi(argv[4])) <= 0) {
        fprintf(stderr, "usage: %s DB FULL|NORMAL SECONDS THREADS SCRIPT [-M prepared|extended] "
                "[-D NAME=TEXT]... [-I NAME=INTEGER]...\n", argv[0]);
        return 2;
    }
    db_path = argv[1];
    synchronous = argv[2];
    parse_script(argv[5]);
    for (int i = 6; i < argc; i++) {
        if (i + 1 == argc) {
            fail("an option lacks its value", argv[i]);
        }
        if (!strcmp(argv[i], "-M")) {
            if (strcmp(argv[i + 1], "prepared") && strcmp(argv[i + 1], "extended")) {
                fail("-M takes prepared or extended", argv[i + 1]);
            }
            reprepare = !strcmp(argv[++i], "extended");
        }
        else if (!strcmp(argv[i], "-D") || !strcmp(argv[i], "-I")) {
            define(argv[i + 1], argv[i][1] == 'I');
            i++;
        }
        else {
            fail("unknown option", argv[i]);
        }
    }
    sqlite3 *db;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fail("open", sqlite3_errmsg(db));
    }
    resolve_params(db);
    sqlite3_close(db);

    worker_t *workers = calloc((size_t)threads, sizeof(*workers));
    pthread_t *ids = calloc((size_t)threads, sizeof(*ids));
    if (!workers || !ids) {
        fail("out of memory", NULL);
    }
    uint64_t seed = (uint64_t)time(NULL) ^ 0x9E3779B97F4A7C15ULL;
    pthread_barrier_init(&ready, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&go, NULL, (unsigned)threads + 1);
    for (int t = 0; t < threads; t++) {
        workers[t].index = t;
        workers[t].rng = seed + (uint64_t)t * 0xD1B54A32D192ED03ULL;
        if (pthread_create(&ids[t], NULL, worker, &workers[t]) != 0) {
            fail("pthread_create", strerror(errno));
        }
    }
    pthread_barrier_wait(&ready);
    start_time = now_s();
    pthread_barrier_wait(&go);
    size_t n = 0;
    long long rows_read = 0;
    double end = start_time;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        n += workers[t].n;
        rows_read += workers[t].rows_read;
        end = workers[t].end > end ? workers[t].end : end;
    }
    double *lat = malloc((n ? n : 1) * sizeof(*lat)), elapsed = end - start_time;
    size_t k = 0;
    for (int t = 0; t < threads; t++) {
        memcpy(lat + k, workers[t].lat, workers[t].n * sizeof(*lat));
        k += workers[t].n;
    }
    qsort(lat, n, sizeof(*lat), cmp_double);
    json_t *out = json_pack("{s:s, s:i, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:s}",
                            "synchronous", synchronous, "threads", threads,
                            "iterations", (json_int_t)n, "seconds", elapsed,
                            "per_sec", (double)n / elapsed, "p50_ms", percentile(lat, n, 50),
                            "p99_ms", percentile(lat, n, 99), "p999_ms",
                            percentile(lat, n, 99.9), "max_ms", n ? lat[n - 1] : 0.0,
                            "rows_read", (json_int_t)rows_read, "sqlite", sqlite3_libversion());
    json_dumpf(out, stdout, JSON_COMPACT);
    putchar('\n');
    return 0;
}
