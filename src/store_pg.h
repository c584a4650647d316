/*
 * store_pg.h: the PostgreSQL backend of the store (store_pg*.c), private
 * to the store's files and the tests that drive its faults.
 *
 * A store path that is a libpq connection string selects it: a URL
 * (postgresql://, postgres://) or keyword=value pairs ("host=db1
 * dbname=softpr").  Every command is one transaction that takes an
 * advisory lock on its LU's name, so commands for different LUs run in
 * parallel from any number of daemons and commands for one LU
 * serialize.  libpq is used asynchronously and polled up to each
 * command's deadline: a lost or slow server is answered BUSY, never
 * waited on without bound.
 */
#ifndef SOFTPR_STORE_PG_H
#define SOFTPR_STORE_PG_H

#include "store_int.h"

extern const StoreBackend store_pg_backend;

/* Whether @path is a libpq connection string (selects PostgreSQL). */
bool store_pg_claims(const char *path);

/*
 * @conninfo for people: "PostgreSQL <host>/<dbname>" with host and
 * database as libpq parses them, never the password or other options.
 * g_free() it.
 */
char *store_pg_describe_conninfo(const char *conninfo);

/*
 * Overwrite in place any password in @arg (a connection string given
 * on the command line, which `ps` shows), keeping its length: call it
 * on argv after the string has been copied.  Harmless on other text.
 */
void store_pg_scrub_password(char *arg);

/* Faults a test injects into the next COMMIT of a store. */
typedef enum StorePgFault {
    STORE_PG_FAULT_NONE,
    /* Drop the connection just before sending COMMIT: the server rolls
     * the transaction back. */
    STORE_PG_FAULT_DROP_BEFORE_COMMIT,
    /* Send COMMIT, wait until its answer has arrived, then drop the
     * connection without reading it: the outcome is known to the
     * server only. */
    STORE_PG_FAULT_DROP_AFTER_COMMIT,
} StorePgFault;

/* Arm @fault for @store's next COMMIT (tests only). */
void store_pg_inject_fault(Store *store, StorePgFault fault);

#endif /* SOFTPR_STORE_PG_H */
