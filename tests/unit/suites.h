/* The Check suites of the unit tests, one per unit under src/. */
#ifndef RA_UNIT_SUITES_H
#define RA_UNIT_SUITES_H

#include <check.h>

Suite *token_suite(void);
Suite *entity_suite(void);
Suite *odata_suite(void);
Suite *store_suite(void);

#endif
