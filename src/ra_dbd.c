/* apr_dbd helpers shared by the storage units (ra_dbd.h). */
#include "ra_dbd.h"

#include <string.h>

#include <apr_strings.h>
#include <sqlite3.h>

ra_dialect_e ra_dbd_dialect(const char *driver_name)
{
    return !strcmp(driver_name, "sqlite3") ? RA_DIALECT_SQLITE
           : !strcmp(driver_name, "pgsql") ? RA_DIALECT_PGSQL : RA_DIALECT_UNSUPPORTED;
}

int ra_dbd_select_all(apr_pool_t *pool, const apr_dbd_driver_t *driver,
                      apr_dbd_t *handle, const char *sql, const char **first)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rv = apr_dbd_select(driver, pool, handle, &res, sql, 0);

    if (rv != 0) {
        return rv;
    }
    while (apr_dbd_get_row(driver, pool, res, &row, -1) == 0) {
        if (first && !*first) {
            const char *value = apr_dbd_get_entry(driver, row, 0);
            *first = apr_pstrdup(pool, value ? value : "");
        }
    }
    return 0;
}

const char *ra_dbd_error(apr_pool_t *pool, const apr_dbd_driver_t *driver,
                         apr_dbd_t *handle, int rv, const char *what)
{
    const char *text = apr_dbd_error(driver, handle, rv);
    /* SQLite's message is the same for every kind of a failure class
     * ("attempt to write a readonly database" for a read-only file, a
     * directory it cannot create a journal in, a moved database...): its
     * extended code tells them apart */
    if (handle && ra_dbd_dialect(apr_dbd_name(driver)) == RA_DIALECT_SQLITE) {
        int code = sqlite3_extended_errcode(apr_dbd_native_handle(driver, handle));
        /* plain SQLITE_READONLY on a file User may write: this process
         * opened the -shm file while it was someone else's. SQLite run as
         * root makes -wal and -shm, then hands them to the database's
         * owner; a child that opened them in between keeps them read-only
         * until it ends (docs/operations.md, "Looking into the SQLite
         * database") */
        const char *hint = code == SQLITE_READONLY
            ? "; this process opened the database or its -shm file read-only (made by "
              "another user, such as root, while httpd ran?): a graceful restart opens "
              "them again" : "";
        return apr_psprintf(pool, "%s: %s (SQLite code %d)%s", what,
                            text ? text : "unknown error", code, hint);
    }
    return apr_psprintf(pool, "%s: %s", what, text ? text : "unknown error");
}

const char *ra_dbd_one_line(apr_pool_t *pool, const char *text)
{
    char *line = apr_palloc(pool, strlen(text) + 1), *out = line;
    for (const char *in = text; *in; in++) {
        if (!strchr(" \t\r\n", *in)) {
            *out++ = *in;
        }
        else if (out > line && out[-1] != ' ') {
            *out++ = ' ';
        }
    }
    while (out > line && out[-1] == ' ') {
        out--;
    }
    *out = '\0';
    return line;
}
