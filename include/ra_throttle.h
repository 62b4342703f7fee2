/* Throttling's core, without httpd: token buckets in one fixed-size table
 * that lives in a shared memory segment (src/mod_ra_throttle.c makes it in
 * post_config), so every child of the server charges the same buckets.
 *
 * Keys: a tenant (tid), a tenant and an application (tid + appid/azp), and a
 * client address (failed authentications). A tenant's and an application's
 * entry hold two buckets, reads and writes; an address's one, its failed
 * authentications.
 *
 * A bucket of LIMIT requests per WINDOW seconds holds at most LIMIT tokens
 * and gains LIMIT/WINDOW a second. Its credit is an integer count of units
 * of 1/(WINDOW * 10^6) token: a request costs WINDOW * 10^6 units and each
 * microsecond adds LIMIT units, so the arithmetic is exact (no floating
 * point, no drift). A key the table does not hold has full buckets.
 *
 * The table's one locking rule: every read and write of the table (header
 * and entries) happens while holding the table's lock word, an atomic spin
 * lock inside the segment itself (ra_throttle_lock). It lives in the segment
 * rather than beside it so that the children of two generations, which
 * share the kept segment during a graceful restart, exclude each other
 * without a mutex both would have to inherit. The lock holds the holder's
 * pid; a waiter takes over a lock whose holder process has died (a child
 * killed mid-charge), at worst inheriting one half-updated entry, which
 * only mis-throttles that key once. Critical sections are a hash probe and
 * a few additions (no system call, no allocation), so waiters spin briefly
 * and then yield. */
#ifndef RA_THROTTLE_H
#define RA_THROTTLE_H

#include <apr.h>
#include <apr_time.h>

typedef enum {
    RA_THROTTLE_KEY_TENANT = 1,
    RA_THROTTLE_KEY_APP,        /* tenant + application */
    RA_THROTTLE_KEY_ADDRESS     /* failed authentications of a client address */
} ra_throttle_key_e;

typedef enum {
    RA_THROTTLE_READ = 0,
    RA_THROTTLE_WRITE = 1
} ra_throttle_access_e;

/* LIMIT requests per WINDOW seconds; limit 0: no limit. */
typedef struct {
    int limit;
    int window;
} ra_throttle_rate_t;

/* Intune's published device-service limits (2,000 requests per 20 s per
 * app per tenant, 4,000 per 20 s per tenant), for reads and writes alike,
 * each budget of its own. */
#define RA_THROTTLE_DEFAULT_APP_LIMIT 2000
#define RA_THROTTLE_DEFAULT_TENANT_LIMIT 4000
#define RA_THROTTLE_DEFAULT_WINDOW 20
/* Failed authentications per client address: a person retrying a mistyped
 * token, or a script with an expired one, stays far below 5 a second; a
 * flood of forged tokens gets one signature check per 200 ms. */
#define RA_THROTTLE_DEFAULT_FAILED_AUTH_LIMIT 300
#define RA_THROTTLE_DEFAULT_FAILED_AUTH_WINDOW 60
/* Entries: tenants, their applications and addresses that failed, at 288
 * bytes each (two slots of 144: the table is never more than half full),
 * 2.9 MB. */
#define RA_THROTTLE_DEFAULT_ENTRIES 10000
#define RA_THROTTLE_MIN_ENTRIES 16
#define RA_THROTTLE_MAX_ENTRIES 1000000
#define RA_THROTTLE_MAX_LIMIT 100000000
#define RA_THROTTLE_MAX_WINDOW 86400

/* The limits a table charges against. */
typedef struct ra_throttle_limits {
    ra_throttle_rate_t tenant[2];   /* [ra_throttle_access_e] */
    ra_throttle_rate_t app[2];
    ra_throttle_rate_t failed_auth;
} ra_throttle_limits_t;

/* The defaults above. */
void ra_throttle_default_limits(ra_throttle_limits_t *limits);

typedef struct ra_throttle ra_throttle_t;

/* Bytes a table of entries entries takes. */
apr_size_t ra_throttle_size(int entries);

/* Makes a table of entries entries in memory of ra_throttle_size(entries)
 * bytes (zeroed or not). */
ra_throttle_t *ra_throttle_init(void *memory, int entries);

/* The table memory holds, when it was made by ra_throttle_init with the
 * same entries and this layout (a segment kept over a graceful restart);
 * else NULL. */
ra_throttle_t *ra_throttle_attach(void *memory, apr_size_t size, int entries);

/* The outcome of a charge. */
typedef struct {
    int allowed;
    ra_throttle_key_e refused_by;   /* when refused: the key whose bucket was empty */
    int retry_after;                /* when refused: whole seconds until a token is back */
} ra_throttle_verdict_t;

/* Charges one request of access to the tenant's bucket and the tenant +
 * application's (app NULL or empty: the tenant's alone), both or neither:
 * refused when either is empty. tenant must be a verified tid. */
ra_throttle_verdict_t ra_throttle_charge(ra_throttle_t *t, const ra_throttle_limits_t *limits,
                                         const char *tenant, const char *app,
                                         ra_throttle_access_e access, apr_time_t now);

/* Whether address may try to authenticate: its failed-authentication bucket
 * still holds a token (nothing is charged). */
ra_throttle_verdict_t ra_throttle_address_check(ra_throttle_t *t,
                                                const ra_throttle_limits_t *limits,
                                                const char *address, apr_time_t now);

/* One failed authentication from address, charged (a bucket already empty
 * stays empty). */
void ra_throttle_address_failed(ra_throttle_t *t, const ra_throttle_limits_t *limits,
                                const char *address, apr_time_t now);

/* Entries in use, and entries evicted to make room since the table was made. */
int ra_throttle_used(ra_throttle_t *t);
apr_uint64_t ra_throttle_evictions(ra_throttle_t *t);

/* The lock (see above); exposed for the tests and the cost measurement. */
void ra_throttle_lock(ra_throttle_t *t);
void ra_throttle_unlock(ra_throttle_t *t);

#endif
