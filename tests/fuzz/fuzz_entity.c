/* libFuzzer target: a request body as the handler decodes it (json_loadb
 * with JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, then ra_entity_decode for a
 * create and an update, v1.0 and beta): the 201 body rendered from an
 * accepted create (ra_entity_write) must decode to the same partner, and
 * an update must change exactly the properties it carries. */
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

static int same_partner(const ra_partner_t *a, const ra_partner_t *b, ra_version_e version)
{
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        if (ra_prop_in_version((ra_prop_e)i, version)
            && !same_text(a->values[i], b->values[i])) {
            return 0;
        }
    }
    return 1;
}

/* A create: an accepted body renders to a 201 that decodes to the same
 * partner, and every non-nullable property has a value (a default). */
static void create(apr_pool_t *pool, json_t *body, ra_version_e version)
{
    ra_partner_t partner, again;
    const char *message;

    if (!ra_entity_decode(pool, version, RA_DECODE_CREATE, body, &partner, &message)) {
        FUZZ_EXPECT(message != NULL); /* the 400 names what is wrong */
        return;
    }
    if (!partner.values[RA_PROP_ID]) {
        partner.values[RA_PROP_ID] = GENERATED_ID;
    }
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        FUZZ_EXPECT(ra_prop_nullable((ra_prop_e)i) || partner.values[i]);
        if (partner.values[i] && ra_prop_kind((ra_prop_e)i) == RA_KIND_DATETIME) {
            FUZZ_EXPECT(ra_entity_datetime_parse(partner.values[i], NULL));
        }
    }
    partner.etag = ra_entity_new_etag(pool);
    ra_jw_t jw;
    ra_jw_text_t text = { .pool = pool };
    ra_jw_init(&jw, ra_jw_text_sink, &text);
    ra_entity_write(&jw, &partner, version, 0,
                    ra_odata_context_url(pool, SERVICE_ROOT, version, 0, 1),
                    ra_odata_collection_url(pool, SERVICE_ROOT));
    FUZZ_EXPECT(ra_jw_finish(&jw) == APR_SUCCESS && jw.replaced == 0);
    json_t *rendered = json_loadb(text.text, text.len, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_EXPECT(rendered != NULL);
    FUZZ_EXPECT(ra_entity_decode(pool, version, RA_DECODE_CREATE, rendered, &again, &message));
    FUZZ_EXPECT(same_partner(&partner, &again, version));
    json_decref(rendered);
}

/* An update: only the present properties change, never the id. */
static void update(apr_pool_t *pool, json_t *body, ra_version_e version)
{
    ra_partner_t patch, target = { { "fixed-id", "name", NULL, "onboarded",
                                     RA_ENTITY_DATETIME_UNSET, RA_ENTITY_DATETIME_UNSET },
                                   "etag", 0 };
    const ra_partner_t before = target;
    const char *message;

    if (!ra_entity_decode(pool, version, RA_DECODE_UPDATE, body, &patch, &message)) {
        FUZZ_EXPECT(message != NULL);
        return;
    }
    ra_entity_apply(&target, &patch);
    FUZZ_EXPECT(!strcmp(target.values[RA_PROP_ID], "fixed-id"));
    for (int i = 0; i < RA_PROP_COUNT; i++) {
        FUZZ_EXPECT(same_text(target.values[i], (patch.present & RA_PROP_BIT(i))
                              && i != RA_PROP_ID ? patch.values[i] : before.values[i]));
        FUZZ_EXPECT(ra_prop_nullable((ra_prop_e)i) || target.values[i]);
    }
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
    for (ra_version_e version = RA_VERSION_V1; version <= RA_VERSION_BETA; version++) {
        create(pool, body, version);
        update(pool, body, version);
    }
    json_decref(body);
    apr_pool_destroy(pool);
    return 0;
}
