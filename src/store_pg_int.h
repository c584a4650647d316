/*
 * store_pg_int.h: what the PostgreSQL backend's files share: the
 * connection state and the one way they run SQL (store_pg_conn.c).
 */
#ifndef SOFTPR_STORE_PG_INT_H
#define SOFTPR_STORE_PG_INT_H

#include <libpq-fe.h>

#include "store_pg.h"

/* Advisory lock keys (pg_advisory_xact_lock(bigint)); an LU's key is a
 * hash of its name (store_pg_lu_lock_key()), which a collision with
 * these would only serialize, never break. */
#define STORE_PG_LOCK_MIGRATE INT64_C(0x736f66747072000)
#define STORE_PG_LOCK_REGISTRY INT64_C(0x736f66747072001)

struct StoreConn {
    PGconn *pg;          /* NULL: not connected */
    bool schema_checked; /* this connection's database passed the check */
    bool create;         /* the schema may be created */
    bool write;          /* the open transaction is a write one */
    bool savepoint;      /* a savepoint is open */
    char outcome_id[40]; /* the open write transaction's command id */
    /* The deadline the open transaction's lock_timeout and
     * statement_timeout were set from (lock_lu() sets them again only
     * when store_set_deadline() moved it). */
    gint64 wait_deadline;
    /* Reconnection: not before next_attempt (monotonic us), waiting
     * backoff_ms more after each failure (100 ms .. 5 s). */
    gint64 next_attempt;
    unsigned backoff_ms;
    /* The server backend serving this connection and the server's start
     * time: after losing a COMMIT, the old backend is known ended when
     * the server restarted, else it is ended before looking. */
    int backend_pid;
    char *server_started;
    StorePgFault fault;
    unsigned writes; /* write transactions begun (prunes outcomes) */
};

/*
 * Run @sql with text parameters @values (@n of them; a NULL value is
 * SQL NULL; @binary[i] marks a bytea sent as raw bytes with length
 * @lengths[i]; @types[i] declares a type, 0 or NULL: as the SQL uses
 * it), waiting for the answer until
 * store->deadline.  Returns the result (PQclear() it) when it is
 * PGRES_COMMAND_OK or PGRES_TUPLES_OK; else NULL with @error set: BUSY
 * for a lock or statement timeout, a deadlock, a serialization failure
 * or a lost connection (which is then dropped), IO otherwise.
 */
PGresult *store_pg_exec(Store *store, const char *what, const char *sql,
                        int n, const char *const *values, const int *lengths,
                        const bool *binary, const Oid *types, GError **error);

/* The same for a statement whose rows are not needed. */
bool store_pg_run(Store *store, const char *what, const char *sql, int n,
                  const char *const *values, GError **error);

/* Connect to store->path until @deadline and check or create the schema
 * (store_pg_schema_prepare()). */
bool store_pg_connect(Store *store, gint64 deadline, GError **error);

/* Drop the connection (whatever was open is rolled back by the server). */
void store_pg_disconnect(StoreConn *conn);

/*
 * Bring the connected database's schema to this build's version,
 * creating it when empty and conn->create, under an advisory lock;
 * refuse a foreign or newer schema (SOFTPR_ERROR_FOREIGN/NEWER, one
 * line).  store_pg_schema.c.
 */
bool store_pg_schema_prepare(Store *store, GError **error);
int store_pg_schema_version(void);

/* The advisory lock key of the LU named @name. */
gint64 store_pg_lu_lock_key(const char *name);

/*
 * Parameters of one statement: text (not copied: keep it alive), whole
 * numbers, NULLs and TransportIDs (bytea, with their readable name when
 * asked), in $1, $2, ... order.
 */
#define STORE_PG_PARAMS_MAX 26
typedef struct StorePgParams {
    int n;
    const char *values[STORE_PG_PARAMS_MAX];
    int lengths[STORE_PG_PARAMS_MAX];
    bool binary[STORE_PG_PARAMS_MAX];
    Oid types[STORE_PG_PARAMS_MAX]; /* declared: unused ones are allowed */
    GPtrArray *owned;
} StorePgParams;

void store_pg_params_init(StorePgParams *p);
void store_pg_params_clear(StorePgParams *p);
/* @text as stored: bytes that are not UTF-8 escaped, reversibly
 * (store_pg_text() undoes it).  g_free() it. */
char *store_pg_encode_text(const char *text);
void store_pg_param_text(StorePgParams *p, const char *text);
void store_pg_param_int(StorePgParams *p, gint64 value);
void store_pg_param_null(StorePgParams *p);     /* type from the SQL */
void store_pg_param_null_int(StorePgParams *p); /* a bigint NULL */
void store_pg_param_tid(StorePgParams *p, const TransportId *tid,
                        bool with_name);
/* store_pg_exec() with @p. */
PGresult *store_pg_exec_params(Store *store, const char *what,
                               const char *sql, const StorePgParams *p,
                               GError **error);

/* Column helpers for text-format results. */
gint64 store_pg_int(const PGresult *res, int row, int col);
char *store_pg_text(const PGresult *res, int row, int col); /* NULL: NULL */
bool store_pg_is_null(const PGresult *res, int row, int col);
/* A bytea column's bytes (g_bytes_unref() it); NULL when undecodable. */
GBytes *store_pg_bytes(const PGresult *res, int row, int col);

/* The operations of store_pg_state.c, store_pg_vm.c, store_pg_report.c. */
bool store_pg_load_state(Store *store, const StoreLuInfo *lu, PrState *state,
                         gint64 *lu_id, bool *stale, GError **error);
bool store_pg_lu_write(Store *store, gint64 *lu_id, const StoreLuInfo *lu,
                       const PrState *after, GError **error);
bool store_pg_reg_write(Store *store, gint64 lu_id, const PrRegistration *reg,
                        StoreRowChange change, GError **error);
bool store_pg_ua_write(Store *store, gint64 lu_id, const PrUnitAttention *ua,
                       StoreRowChange change, GError **error);
bool store_pg_lu_paths_here(Store *store, const char *lu_name,
                            GPtrArray *paths, GError **error);
bool store_pg_history_add(Store *store, const char *lu_name,
                          const StoreHistoryEntry *entry,
                          const StoreSenseCodes *sense, gint64 at_ms,
                          GError **error);
bool store_pg_history_list(Store *store, const StoreFilter *filter,
                           GArray *rows, GError **error);
bool store_pg_vm_lookup(Store *store, const char *key, StoreVmRecord *record,
                        GError **error);
bool store_pg_vm_name_taken(Store *store, const char *name, bool *taken,
                            GError **error);
bool store_pg_vm_insert(Store *store, const StoreVm *vm, const char *name,
                        gint64 now, GError **error);
bool store_pg_vm_update(Store *store, const StoreVm *vm, gint64 now,
                        GError **error);
bool store_pg_vm_prune(Store *store, gint64 before, unsigned *removed,
                       GError **error);
bool store_pg_vm_forget(Store *store, const char *name, bool *removed,
                        GError **error);
bool store_pg_dump_read(Store *store, const StoreFilter *filter,
                        StoreDump *dump, GError **error);
bool store_pg_lu_names(Store *store, const char *pattern, GPtrArray *names,
                       GError **error);
bool store_pg_check_integrity(Store *store, GPtrArray *problems,
                              GError **error);
bool store_pg_check_writable(Store *store, GError **error);

#endif /* SOFTPR_STORE_PG_INT_H */
