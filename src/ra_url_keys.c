/* Signing keys that arrive by URL: documents, fetched keys, the shared block
 * and local keys (see ra_url_keys.h). */
#include "ra_url_keys.h"

#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <apr_uri.h>

#include <jansson.h>

/* ------------------------------------------------------------- documents */

const char *ra_url_keys_check_url(apr_pool_t *pool, const char *url, int allow_http)
{
    apr_uri_t uri;

    for (const char *c = url; *c; c++) {
        if (*c <= ' ' || *c > '~') {
            return "a URL holds printable ASCII only";
        }
    }
    if (apr_uri_parse(pool, url, &uri) != APR_SUCCESS || !uri.scheme || !uri.hostname
        || !*uri.hostname) {
        return "not an absolute URL";
    }
    if (uri.fragment) {
        return "a URL with a #fragment";
    }
    if (!strcasecmp(uri.scheme, "https") || (allow_http && !strcasecmp(uri.scheme, "http"))) {
        return NULL;
    }
    return !strcasecmp(uri.scheme, "http") ? "plain http:// is not allowed here"
                                           : "not an https:// URL";
}

/* A string member without NUL bytes inside, or NULL. */
static const char *string_member(json_t *obj, const char *name)
{
    json_t *value = json_object_get(obj, name);
    const char *text = json_string_value(value);
    return text && *text && strlen(text) == json_string_length(value) ? text : NULL;
}

const char *ra_url_keys_parse_metadata(apr_pool_t *pool, const char *data, apr_size_t len,
                                       int allow_http, const char **jwks_uri,
                                       const char **issuer)
{
    json_error_t jerr;
    const char *error = NULL;
    json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *uri = string_member(doc, "jwks_uri");
    const char *iss = string_member(doc, "issuer");

    if (!doc) {
        return apr_psprintf(pool, "invalid JSON at line %d: %s", jerr.line, jerr.text);
    }
    if (!uri || !iss) {
        error = "an OpenID Connect discovery document needs the strings jwks_uri and issuer";
    }
    else if ((error = ra_url_keys_check_url(pool, uri, allow_http)) != NULL) {
        error = apr_psprintf(pool, "its jwks_uri: %s", error);
    }
    else if ((error = ra_url_keys_check_url(pool, iss, allow_http)) != NULL) {
        error = apr_psprintf(pool, "its issuer: %s", error);
    }
    else {
        *jwks_uri = apr_pstrdup(pool, uri);
        *issuer = apr_pstrdup(pool, iss);
    }
    json_decref(doc);
    return error;
}

/* --------------------------------------------------------- fetched keys */

void ra_fetched_keys_destroy(ra_fetched_keys_t *snap)
{
    if (snap) {
        apr_pool_destroy(snap->pool); /* its cleanup releases the cjose keys */
    }
}

/* A snapshot of the JWKS text jwks, carried by bundle; NULL with *error. */
static ra_fetched_keys_t *snapshot_make(apr_pool_t *scratch, const char *source,
                                        const char *jwks_uri, const char *issuer,
                                        const char *jwks, apr_size_t jwks_len,
                                        const char *bundle, apr_size_t bundle_len,
                                        const char **error)
{
    apr_pool_t *pool;
    ra_fetched_keys_t *snap;
    apr_array_header_t *skipped;

    /* the shared block holds no more (a cache file may be longer) */
    if (bundle_len > RA_URL_KEYS_MAX_BUNDLE) {
        *error = apr_psprintf(scratch, "the keys and their URLs exceed %d bytes",
                              RA_URL_KEYS_MAX_BUNDLE);
        return NULL;
    }
    /* its own allocator: snapshots are made and destroyed by any thread */
    if (apr_pool_create_unmanaged_ex(&pool, NULL, NULL) != APR_SUCCESS) {
        *error = "out of memory";
        return NULL;
    }
    snap = apr_pcalloc(pool, sizeof(*snap));
    snap->pool = pool;
    skipped = apr_array_make(pool, 1, sizeof(const char *));
    snap->keys = ra_keyset_parse_jwks(pool, jwks_uri, jwks, jwks_len, skipped, error);
    if (!snap->keys) {
        *error = apr_pstrdup(scratch, *error);
        apr_pool_destroy(pool);
        return NULL;
    }
    snap->skipped = skipped;
    snap->source = apr_pstrdup(pool, source);
    snap->jwks_uri = apr_pstrdup(pool, jwks_uri);
    if (issuer) {
        apr_array_header_t *issuers = apr_array_make(pool, 1, sizeof(const char *));
        APR_ARRAY_PUSH(issuers, const char *) = snap->issuer = apr_pstrdup(pool, issuer);
        snap->issuers = issuers;
    }
    snap->bundle = apr_pstrmemdup(pool, bundle, bundle_len);
    snap->bundle_len = bundle_len;
    return snap;
}

/* Sorted keys and no white space: the same keys give the same bytes, so
 * the fetcher can tell an unchanged JWKS from a new one. */
#define BUNDLE_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

ra_fetched_keys_t *ra_fetched_keys_from_jwks(apr_pool_t *scratch, const char *source,
                                             const char *jwks_uri, const char *issuer,
                                             const char *jwks, apr_size_t len,
                                             const char **error)
{
    json_error_t jerr;
    json_t *doc = json_loadb(jwks, len, JSON_REJECT_DUPLICATES, &jerr);
    ra_fetched_keys_t *snap = NULL;

    if (!json_is_object(doc)) {
        *error = doc ? "the JWKS is not a JSON object"
                     : apr_psprintf(scratch, "the JWKS is not JSON (line %d: %s)", jerr.line,
                                    jerr.text);
        json_decref(doc);
        return NULL;
    }
    json_t *bundle = json_pack("{s:s, s:s, s:s?, s:O}", "source", source, "jwks_uri",
                               jwks_uri, "issuer", issuer, "jwks", doc);
    char *text = bundle ? json_dumps(bundle, BUNDLE_FLAGS) : NULL;
    char *keys_text = json_dumps(doc, BUNDLE_FLAGS);

    if (!text || !keys_text) {
        *error = "the JWKS could not be encoded";
    }
    else {
        snap = snapshot_make(scratch, source, jwks_uri, issuer, keys_text, strlen(keys_text),
                             text, strlen(text), error);
    }
    free(text);
    free(keys_text);
    json_decref(bundle);
    json_decref(doc);
    return snap;
}

ra_fetched_keys_t *ra_fetched_keys_decode(apr_pool_t *scratch, const char *source,
                                          const char *bundle, apr_size_t len,
                                          const char **error)
{
    json_t *doc = json_loadb(bundle, len, JSON_REJECT_DUPLICATES, NULL);
    const char *from = string_member(doc, "source");
    const char *jwks_uri = string_member(doc, "jwks_uri");
    json_t *issuer = json_object_get(doc, "issuer");
    json_t *jwks = json_object_get(doc, "jwks");
    ra_fetched_keys_t *snap = NULL;

    if (!from || !jwks_uri || !json_is_object(jwks)
        || (issuer && !json_is_null(issuer) && !string_member(doc, "issuer"))) {
        *error = "not a key bundle of this module";
    }
    else if (source && strcmp(source, from)) {
        *error = apr_psprintf(scratch, "the keys of %s, not of %s", from, source);
    }
    else {
        char *keys_text = json_dumps(jwks, BUNDLE_FLAGS);
        if (!keys_text) {
            *error = "the keys could not be encoded";
        }
        else {
            snap = snapshot_make(scratch, from, jwks_uri, json_string_value(issuer),
                                 keys_text, strlen(keys_text), bundle, len, error);
            free(keys_text);
        }
    }
    json_decref(doc);
    return snap;
}

/* ------------------------------------------------------ the shared block */

/* Every member is read and written with __atomic builtins: the block is
 * shared by processes, and there is no lock. The bundle is copied a word at
 * a time with release stores and acquire loads, so the sequence lock needs
 * no fences (Boehm, "Can seqlocks get along with programming language
 * memory models?"): a reader that sees any word of a write also sees the
 * odd sequence number written before it. On x86 they are plain moves. */
#define WORDS(bytes) (((bytes) + 7) / 8)

struct ra_shared_keys {
    apr_uint64_t seq;           /* sequence lock: odd while the bundle is written */
    apr_uint64_t published;     /* bundles stored so far */
    apr_uint64_t attempts;      /* fetches finished so far */
    apr_time_t due;             /* the next scheduled fetch */
    apr_time_t early_granted;   /* when the last early refresh was asked for */
    apr_time_t early_served;    /* the early_granted the fetcher last began with:
                                 * another one is an early refresh asked for */
    apr_uint32_t in_flight;     /* the fetcher is fetching */
    apr_uint32_t failures;      /* consecutive failed fetches */
    apr_uint32_t len;           /* of bundle */
    apr_uint64_t bundle[WORDS(RA_URL_KEYS_MAX_BUNDLE)];
};

#define LOAD(member) __atomic_load_n(&(member), __ATOMIC_ACQUIRE)
#define STORE(member, value) __atomic_store_n(&(member), (value), __ATOMIC_RELEASE)

/* How long a reader retries while a writer writes (microseconds); a
 * memcpy of a bundle takes far less. */
#define READ_PATIENCE 10000
/* How often a waiting request looks whether the fetch finished. */
#define WAIT_STEP 20000

apr_size_t ra_shared_keys_size(void)
{
    return APR_ALIGN(sizeof(ra_shared_keys_t), 8);
}

ra_shared_keys_t *ra_shared_keys_init(void *memory)
{
    memset(memory, 0, ra_shared_keys_size());
    return memory;
}

apr_uint64_t ra_shared_keys_published(const ra_shared_keys_t *share)
{
    return LOAD(share->published);
}

/* Word i of a bundle of len bytes, zero-padded at its end. */
static apr_uint64_t bundle_word(const char *bundle, apr_size_t len, apr_size_t i)
{
    apr_uint64_t word = 0;
    memcpy(&word, bundle + i * 8, len - i * 8 < 8 ? len - i * 8 : 8);
    return word;
}

void ra_shared_keys_store(ra_shared_keys_t *share, const char *bundle, apr_size_t len)
{
    /* odd already when a writer died while writing: stay odd, then even */
    apr_uint64_t seq = LOAD(share->seq) | 1;

    __atomic_store_n(&share->seq, seq, __ATOMIC_RELAXED);
    for (apr_size_t i = 0; i < WORDS(len); i++) {
        STORE(share->bundle[i], bundle_word(bundle, len, i));
    }
    STORE(share->len, (apr_uint32_t)len);
    STORE(share->seq, seq + 1);
    /* after the bundle: a reader that sees the new count copies new bytes */
    __atomic_add_fetch(&share->published, 1, __ATOMIC_ACQ_REL);
}

int ra_shared_keys_holds(const ra_shared_keys_t *share, const char *bundle, apr_size_t len)
{
    /* odd: a fetcher died while writing, and the block must be written
     * again even if its bytes already match */
    if (LOAD(share->published) == 0 || (LOAD(share->seq) & 1) || LOAD(share->len) != len) {
        return 0;
    }
    for (apr_size_t i = 0; i < WORDS(len); i++) {
        if (LOAD(share->bundle[i]) != bundle_word(bundle, len, i)) {
            return 0;
        }
    }
    return 1;
}

const char *ra_shared_keys_load(const ra_shared_keys_t *share, apr_pool_t *pool,
                                apr_size_t *len, apr_uint64_t *stamp)
{
    apr_time_t give_up = apr_time_now() + READ_PATIENCE;

    /* read first: the bytes copied below are at least this new */
    *stamp = LOAD(share->published);
    if (*stamp == 0) {
        return NULL;
    }
    do {
        apr_uint64_t before = LOAD(share->seq), after;
        char *copy = NULL;
        if (!(before & 1)) {
            apr_size_t n = LOAD(share->len);
            if (n <= RA_URL_KEYS_MAX_BUNDLE) {
                copy = apr_palloc(pool, WORDS(n) * 8 + 1);
                for (apr_size_t i = 0; i < WORDS(n); i++) {
                    apr_uint64_t word = LOAD(share->bundle[i]);
                    memcpy(copy + i * 8, &word, 8);
                }
                copy[n] = '\0';
                *len = n;
            }
            after = __atomic_load_n(&share->seq, __ATOMIC_RELAXED);
            if (after == before && copy) {
                return copy;
            }
        }
        apr_thread_yield();
    } while (apr_time_now() < give_up);
    return NULL;
}

void ra_shared_keys_schedule(ra_shared_keys_t *share, apr_time_t due)
{
    STORE(share->due, due);
}

int ra_shared_keys_begin(ra_shared_keys_t *share, apr_time_t now)
{
    apr_time_t granted = LOAD(share->early_granted);

    if (granted == LOAD(share->early_served) && now < LOAD(share->due)) {
        return 0;
    }
    /* in flight before the early request is served: a request that sees it
     * served (ra_shared_keys_ask reads in the other order) sees it in flight */
    STORE(share->in_flight, 1);
    STORE(share->early_served, granted);
    return 1;
}

apr_interval_time_t ra_shared_keys_end(ra_shared_keys_t *share, apr_time_t now, int good,
                                       apr_interval_time_t refresh,
                                       apr_interval_time_t min_interval)
{
    apr_interval_time_t delay = refresh;

    if (good) {
        STORE(share->failures, 0);
    }
    else {
        apr_uint32_t failures = __atomic_add_fetch(&share->failures, 1, __ATOMIC_ACQ_REL);
        apr_interval_time_t most = refresh > min_interval ? refresh : min_interval;
        delay = min_interval;
        for (apr_uint32_t i = 1; i < failures && delay < most; i++) {
            delay *= 2;
        }
        delay = delay < most ? delay : most;
    }
    STORE(share->due, now + delay);
    __atomic_add_fetch(&share->attempts, 1, __ATOMIC_ACQ_REL);
    STORE(share->in_flight, 0);
    return delay;
}

void ra_shared_keys_adopt(ra_shared_keys_t *share)
{
    if (LOAD(share->in_flight) || (LOAD(share->seq) & 1)) {
        STORE(share->due, 0);
        STORE(share->in_flight, 0);
    }
}

apr_uint32_t ra_shared_keys_failures(const ra_shared_keys_t *share)
{
    return LOAD(share->failures);
}

ra_shared_keys_ask_e ra_shared_keys_ask(ra_shared_keys_t *share, apr_time_t now,
                                        apr_interval_time_t min_interval, apr_uint64_t *ticket)
{
    /* the ticket first: a fetch that finishes after it wakes the waiter */
    *ticket = LOAD(share->attempts);
    /* in_flight last: ra_shared_keys_begin stores it first */
    apr_time_t granted = LOAD(share->early_granted);
    apr_time_t served = LOAD(share->early_served);
    if (LOAD(share->in_flight)) {
        return RA_SHARED_KEYS_FETCH_IN_FLIGHT;
    }
    if (granted != served) {
        return RA_SHARED_KEYS_FETCH_COMING; /* asked for, not begun yet */
    }
    /* a clock set back does not block early refreshes until it catches up */
    if (now - granted < min_interval && now >= granted) {
        return RA_SHARED_KEYS_NO_FETCH;
    }
    /* one winner per interval across every child and thread; a loser
     * waits for the winner's fetch */
    __atomic_compare_exchange_n(&share->early_granted, &granted, now, 0, __ATOMIC_ACQ_REL,
                                __ATOMIC_ACQUIRE);
    return RA_SHARED_KEYS_FETCH_COMING;
}

int ra_shared_keys_wait(const ra_shared_keys_t *share, apr_uint64_t ticket,
                        apr_interval_time_t timeout)
{
    apr_time_t deadline = apr_time_now() + timeout;

    while (LOAD(share->attempts) == ticket) {
        apr_time_t left = deadline - apr_time_now();
        if (left <= 0) {
            return 0;
        }
        apr_sleep(left < WAIT_STEP ? left : WAIT_STEP);
    }
    return 1;
}

/* ----------------------------------------------------------- local keys */

struct ra_local_keys {
    apr_thread_mutex_t *lock;      /* current and every snapshot's holders */
    apr_thread_mutex_t *updating;  /* one thread decodes a new bundle at a time */
    ra_fetched_keys_t *current;
    apr_uint64_t stamp;            /* the publication current came from (atomic) */
};

typedef struct {
    ra_local_keys_t *local;
    ra_fetched_keys_t *snap;
} ra_local_keys_hold_t;

static apr_status_t local_keys_release(void *data)
{
    ra_local_keys_hold_t *hold = data;
    ra_local_keys_t *local = hold->local;
    ra_fetched_keys_t *gone = NULL;

    apr_thread_mutex_lock(local->lock);
    if (--hold->snap->holders == 0 && hold->snap != local->current) {
        gone = hold->snap;
    }
    apr_thread_mutex_unlock(local->lock);
    ra_fetched_keys_destroy(gone);
    return APR_SUCCESS;
}

static apr_status_t local_keys_cleanup(void *data)
{
    ra_local_keys_t *local = data;
    ra_fetched_keys_destroy(local->current);
    local->current = NULL;
    return APR_SUCCESS;
}

ra_local_keys_t *ra_local_keys_create(apr_pool_t *pool)
{
    ra_local_keys_t *local = apr_pcalloc(pool, sizeof(*local));

    if (apr_thread_mutex_create(&local->lock, APR_THREAD_MUTEX_DEFAULT, pool) != APR_SUCCESS
        || apr_thread_mutex_create(&local->updating, APR_THREAD_MUTEX_DEFAULT, pool)
           != APR_SUCCESS) {
        return NULL;
    }
    /* registered after the mutexes: it runs before they are destroyed */
    apr_pool_cleanup_register(pool, local, local_keys_cleanup, apr_pool_cleanup_null);
    return local;
}

const ra_fetched_keys_t *ra_local_keys_hold(ra_local_keys_t *local, apr_pool_t *holder)
{
    ra_fetched_keys_t *snap;

    apr_thread_mutex_lock(local->lock);
    if ((snap = local->current) != NULL) {
        snap->holders++;
    }
    apr_thread_mutex_unlock(local->lock);
    if (snap) {
        ra_local_keys_hold_t *hold = apr_palloc(holder, sizeof(*hold));
        hold->local = local;
        hold->snap = snap;
        apr_pool_cleanup_register(holder, hold, local_keys_release, apr_pool_cleanup_null);
    }
    return snap;
}

static void local_keys_publish(ra_local_keys_t *local, ra_fetched_keys_t *snap,
                               apr_uint64_t stamp)
{
    ra_fetched_keys_t *gone = NULL;

    apr_thread_mutex_lock(local->lock);
    if (local->current && local->current->holders == 0) {
        gone = local->current;
    }
    local->current = snap;
    STORE(local->stamp, stamp);
    apr_thread_mutex_unlock(local->lock);
    ra_fetched_keys_destroy(gone);
}

int ra_local_keys_update(ra_local_keys_t *local, const ra_shared_keys_t *share,
                         const char *source, int wait, apr_pool_t *scratch, const char **error)
{
    apr_status_t rv;
    int result = 0;

    if (ra_shared_keys_published(share) == LOAD(local->stamp)) {
        return 0;
    }
    rv = wait ? apr_thread_mutex_lock(local->updating)
              : apr_thread_mutex_trylock(local->updating);
    if (rv != APR_SUCCESS) {
        return 0; /* another thread is taking it */
    }
    if (ra_shared_keys_published(share) != LOAD(local->stamp)) {
        apr_size_t len;
        apr_uint64_t stamp;
        const char *bundle = ra_shared_keys_load(share, scratch, &len, &stamp);
        ra_fetched_keys_t *snap = bundle ? ra_fetched_keys_decode(scratch, source, bundle, len, error)
                                    : NULL;
        if (snap) {
            local_keys_publish(local, snap, stamp);
            result = 1;
        }
        else if (!bundle) {
            *error = "the shared keys are being rewritten";
            result = -1;
        }
        else {
            STORE(local->stamp, stamp); /* the same bytes would fail again */
            result = -1;
        }
    }
    apr_thread_mutex_unlock(local->updating);
    return result;
}
