/* The test oracle of the streaming JSON writer (src/ra_json_writer.c),
 * shared by its unit tests and its fuzz target: jansson's compact text of a
 * value, with U+2028 and U+2029 escaped as the writer escapes them (its one
 * intended difference). Returns a malloc()ed string, or NULL when jansson
 * cannot write the value. */
#ifndef RA_JW_ORACLE_H
#define RA_JW_ORACLE_H

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static inline char *jw_oracle(const json_t *value)
{
    char *dumped = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!dumped) {
        return NULL;
    }
    char *out = malloc(strlen(dumped) * 2 + 1), *o = out;
    for (const char *s = dumped; out && *s;) {
        if (!strncmp(s, "\xE2\x80\xA8", 3) || !strncmp(s, "\xE2\x80\xA9", 3)) {
            memcpy(o, s[2] == '\xA8' ? "\\u2028" : "\\u2029", 6);
            o += 6;
            s += 3;
        }
        else {
            *o++ = *s++;
        }
    }
    if (out) {
        *o = '\0';
    }
    free(dumped);
    return out;
}

#endif
