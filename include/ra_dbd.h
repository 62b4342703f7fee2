/* What every storage unit needs of apr_dbd, with no httpd symbols: the SQL
 * dialect of a driver (the one place that compares driver names), a select
 * read to its end, and a driver's error message on one line. The schema
 * (ra_schema), the statements (ra_store) and the generated SQL (ra_sql)
 * build on it. */
#ifndef RA_DBD_H
#define RA_DBD_H

#include <apr_dbd.h>
#include <apr_pools.h>

/* The forms of the schema and SQL the module speaks, one per apr_dbd driver
 * it runs on. */
typedef enum { RA_DIALECT_SQLITE, RA_DIALECT_PGSQL, RA_DIALECT_UNSUPPORTED } ra_dialect_e;

/* The dialect of the apr_dbd driver so named (DBDriver's argument, or
 * apr_dbd_name() of a loaded driver); RA_DIALECT_UNSUPPORTED for any other.
 * The one place that compares driver names. */
ra_dialect_e ra_dbd_dialect(const char *driver_name);

/* Runs a statement that may return rows, reading them all so the connection
 * is left idle. *first gets the first column of the first row, if wanted
 * (first not NULL, *first NULL). The driver's code. */
int ra_dbd_select_all(apr_pool_t *pool, const apr_dbd_driver_t *driver, apr_dbd_t *handle,
                      const char *sql, const char **first);

/* "what: the driver's message for rv" */
const char *ra_dbd_error(apr_pool_t *pool, const apr_dbd_driver_t *driver,
                         apr_dbd_t *handle, int rv, const char *what);

/* text on one line, runs of blanks and line breaks folded into one space
 * (libpq's messages span lines and end in one) */
const char *ra_dbd_one_line(apr_pool_t *pool, const char *text);

#endif
