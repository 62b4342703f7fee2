/* What every httpd glue unit of mod_remoteassist needs and nothing else: the
 * module record, its handler name and version, and the message-id macro. A
 * leaf: it includes httpd's headers only, so any glue unit may include it
 * without depending on another (mod_ra_keys, for one, needs no
 * configuration structures). */
#ifndef MOD_REMOTEASSIST_H
#define MOD_REMOTEASSIST_H

#include "httpd.h"
#include "http_config.h"

#define RA_MODULE_VERSION "0.3.0"
#define RA_HANDLER "remoteassist"

/* Stable message ids, as httpd's own AH numbers but for this module; each
 * number is used once (tests/integration/test_docs.py checks). */
#define RALOGNO(n) "RA" #n ": "

extern module AP_MODULE_DECLARE_DATA remoteassist_module;

#endif
