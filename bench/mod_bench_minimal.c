/* Bench-only module (not part of the product): the least an httpd handler
 * can do for a POST. `make bench` builds it with apxs into build/bench/ and
 * serves it beside mod_remoteassist in the same server, so the module's
 * rejections (401, 405, 400) can be compared with the bare HTTP path.
 *
 *   <Location "/bench-minimal">
 *       SetHandler bench-minimal
 *   </Location>
 *
 * It reads the whole request body, answers 201 with a fixed ~400-byte JSON
 * document and flushes before returning, as mod_remoteassist does (without
 * the flush, httpd looks for a pipelined request before writing the
 * response: see the baseline's first trap). */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"

static const char body[] =
    "{\"@odata.context\":\"http://127.0.0.1/v1.0/$metadata#deviceManagement/"
    "remoteAssistancePartners/$entity\",\"@odata.type\":\"#microsoft.graph."
    "remoteAssistancePartner\",\"id\":\"00000000-0000-4000-8000-000000000000\","
    "\"displayName\":\"Display Name value\",\"onboardingUrl\":\"https://example.com/"
    "onboardingUrl/\",\"onboardingStatus\":\"onboarding\",\"lastConnectionDateTime\":"
    "\"2016-12-31T23:58:36.6670033-08:00\",\"padding\":\"...\"}"; /* 400 bytes */

static int minimal_handler(request_rec *r)
{
    char buf[8192];
    long got = 0;

    if (!r->handler || strcmp(r->handler, "bench-minimal")) {
        return DECLINED;
    }
    if (r->method_number != M_POST) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) {
        return HTTP_BAD_REQUEST;
    }
    if (ap_should_client_block(r)) {
        while ((got = ap_get_client_block(r, buf, sizeof(buf))) > 0) {
        }
    }
    if (got < 0) {
        return HTTP_BAD_REQUEST;
    }
    r->status = HTTP_CREATED;
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, (apr_off_t)(sizeof(body) - 1));
    ap_rwrite(body, (int)(sizeof(body) - 1), r);
    ap_rflush(r);
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(minimal_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(bench_minimal) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_NONE
#endif
};
