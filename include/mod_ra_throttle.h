/* httpd glue: throttling (RemoteAssistThrottle*), the shared table's
 * segment and the checks around token verification.
 *
 * The order of a request's checks, in ra_throttle_authorize:
 *   1. the failed-authentication budget of r->useragent_ip (mod_remoteip's
 *      client address behind a proxy): an address that has spent it gets
 *      429 before its token costs a signature check;
 *   2. token verification, tenant restriction and permission (ra_authorize);
 *      a 401 or 403 charges the address's budget;
 *   3. the verified tenant's and tenant + application's buckets for reads or
 *      writes, both or neither: 429 when either is empty;
 *   4. then, only then, the query, the database and the operation. */
#ifndef MOD_RA_THROTTLE_H
#define MOD_RA_THROTTLE_H

#include "httpd.h"
#include "http_config.h"

#include "mod_ra_request.h"
#include "ra_token.h"

/* Steps 1 to 3 above for rq: OK, or the request answered (401, 403, 429,
 * or what ra_authorize answers) and DONE. */
int ra_throttle_authorize(ra_request_t *rq, ra_access_e access);

/* Steps 1 and 2 alone, charging no tenant: for a request whose parts are
 * charged one by one ($batch: the envelope is not a request of its own,
 * each inner request is charged with ra_throttle_charge_token). */
int ra_throttle_authenticate(ra_request_t *rq, ra_access_e access);

/* Step 3 for one request of a verified token, for callers that answer it
 * themselves ($batch charges each inner request with it): 0 when allowed,
 * else the whole seconds of its Retry-After, with *message the Graph error
 * message of its 429 (code TooManyRequests); the refusal is counted in the
 * metrics. Throttling off: always 0. */
int ra_throttle_charge_token(request_rec *r, const ra_token_result_t *token,
                             ra_access_e access, const char **message);

#endif
