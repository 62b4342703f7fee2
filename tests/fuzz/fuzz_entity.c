/* libFuzzer target: a request body as the handler decodes it (json_loadb
 * with JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, then ra_entity_from_json for
 * v1.0 and for beta), and the 201 body it renders from an accepted partner
 * (ra_entity_to_json), which must decode to the same partner again. */
#include <string.h>

#include <apr_pools.h>
#include <jansson.h>

#include "fuzz.h"
#include "ra_entity.h"
#include "ra_odata.h"

#define SERVICE_ROOT "https://graph.contoso.com/v1.0"
#define GENERATED_ID "9c1f4a52-5b2d-4c4e-9f7a-0123456789ab" /* as ra_odata_new_guid makes */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_apr_init();
    return 0;
}

static int same_text(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static int same_partner(const ra_partner_t *a, const ra_partner_t *b)
{
    return same_text(a->id, b->id) && same_text(a->display_name, b->display_name)
           && same_text(a->onboarding_url, b->onboarding_url)
           && same_text(a->onboarding_status, b->onboarding_status)
           && same_text(a->last_connection_date_time, b->last_connection_date_time)
           && same_text(a->onboarding_request_expiry_date_time,
                        b->onboarding_request_expiry_date_time);
}

static void decode_and_render(apr_pool_t *pool, json_t *body, ra_version_e version)
{
    ra_partner_t partner, again;
    const char *message;
    apr_size_t len;

    if (!ra_entity_from_json(pool, version, body, &partner, &message)) {
        FUZZ_EXPECT(message != NULL); /* the 400 names what is wrong */
        return;
    }
    if (!partner.id) {
        partner.id = GENERATED_ID;
    }
    json_t *rendered = ra_entity_to_json(&partner, version,
                                         ra_odata_context_url(pool, SERVICE_ROOT));
    FUZZ_EXPECT(ra_odata_dump(pool, rendered, &len) != NULL && len > 0);
    FUZZ_EXPECT(ra_entity_from_json(pool, version, rendered, &again, &message));
    FUZZ_EXPECT(same_partner(&partner, &again));
    json_decref(rendered);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *pool;
    json_t *body = json_loadb((const char *)data, size,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);

    if (!body) {
        return 0;
    }
    FUZZ_EXPECT(apr_pool_create(&pool, NULL) == APR_SUCCESS);
    /* not only objects: the handler checks that first, the unit must not rely on it */
    decode_and_render(pool, body, RA_VERSION_V1);
    decode_and_render(pool, body, RA_VERSION_BETA);
    json_decref(body);
    apr_pool_destroy(pool);
    return 0;
}
