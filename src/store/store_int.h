/*
 * The store module's insides shared with its tests: the SQLite connection
 * behind a store (to simulate a full disk with PRAGMA max_page_count), the
 * schema version this build writes and the migrations' SQL. Not for use outside src/store and
 * tests.
 */
#ifndef SK_STORE_INT_H
#define SK_STORE_INT_H

#include "store.h"

#include <sqlite3.h>

/* The connection of a store opened by sk_store_sqlite_ops (borrowed; the
 * store keeps owning it). Tests only. */
sqlite3 *sk_store_sqlite__db(sk_store_t *st);
/* The schema version this build creates and migrates to. */
int sk_store_sqlite__schema_version(void);
/* The SQL of migration `to` (1..schema version), which takes the schema from
 * version to - 1 to `to`; NULL out of range. Tests keep a frozen copy of
 * released migrations and compare. */
const char *sk_store_sqlite__migration(int to);

#endif
