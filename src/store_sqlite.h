/*
 * store_sqlite.h: what the sqlite backend's files share (private to
 * src/store_sqlite*.c): the connection, its prepared-statement cache and
 * the helpers that turn sqlite's result codes into softpr errors.
 *
 * Safety rules, from sqlite's own documentation for files that several
 * hosts share (useovernet.html, howtocorrupt.html): the default unix VFS
 * with POSIX locks, the rollback journal (WAL needs shared memory, which
 * hosts do not share, and is persistent once set), synchronous EXTRA so
 * that a commit is on disk, directory included, before GOOD is returned,
 * no mmap, BEGIN IMMEDIATE for every read-modify-write so that lock
 * waits never deadlock, and a busy handler that gives up at a deadline.
 */
#ifndef SOFTPR_STORE_SQLITE_H
#define SOFTPR_STORE_SQLITE_H

#include <sqlite3.h>

#include "store_int.h"

/* The statements a connection keeps prepared, one slot each. */
typedef enum StmtId {
    STMT_BEGIN_READ,
    STMT_BEGIN_WRITE,
    STMT_COMMIT,
    STMT_SAVEPOINT,
    STMT_SAVEPOINT_RELEASE,
    STMT_SAVEPOINT_ROLLBACK,
    STMT_LU_SELECT,
    STMT_REG_SELECT,
    STMT_UA_SELECT,
    STMT_LU_INSERT,
    STMT_LU_UPDATE,
    STMT_REG_INSERT,
    STMT_REG_UPDATE,
    STMT_REG_DELETE,
    STMT_UA_INSERT,
    STMT_UA_DELETE,
    STMT_VM_SELECT,
    STMT_VM_NAME_TAKEN,
    STMT_VM_INSERT,
    STMT_VM_UPDATE,
    STMT_VM_PRUNE,
    STMT_VM_FORGET,
    STMT_SEEN_UPSERT,
    STMT_SEEN_PATHS,
    STMT_HISTORY_INSERT,
    STMT_HISTORY_PRUNE_ROWS,
    STMT_HISTORY_PRUNE_AGE,
    STMT_COUNT
} StmtId;

struct StoreConn {
    sqlite3 *db;
    sqlite3_stmt *stmts[STMT_COUNT];
};

/* Report sqlite result @rc of doing @what on @store's database. */
void store_sqlite_set_error(Store *store, GError **error, int rc,
                            const char *what);

/*
 * The prepared statement @id for @sql (the same text for the same id on
 * every call), reset and with no bindings.
 */
sqlite3_stmt *store_sqlite_stmt(Store *store, StmtId id, const char *sql,
                                GError **error);

/* Reset @stmt and clear its bindings after use. */
void store_sqlite_stmt_done(sqlite3_stmt *stmt);

/* Step a statement that returns no rows, then reset it. */
bool store_sqlite_stmt_run(Store *store, sqlite3_stmt *stmt, const char *what,
                           GError **error);

/* sqlite3_exec() @sql (no rows). */
bool store_sqlite_exec(Store *store, const char *sql, const char *what,
                       GError **error);

/* Column 0 of the single-row @sql (a PRAGMA), as text / as an integer. */
char *store_sqlite_query_text(Store *store, const char *sql, GError **error);
bool store_sqlite_query_int(Store *store, const char *sql, gint64 *out,
                            GError **error);

/* A one-off statement for @sql with @filter bound as ?1 LU glob,
 * ?2 initiator glob, ?3 key, ?4 since (ms), ?5 limit (-1: all);
 * @filter may be NULL.  sqlite3_finalize() it, or report_rows. */
sqlite3_stmt *store_sqlite_report_prepare(Store *store, const char *sql,
                                          const StoreFilter *filter,
                                          GError **error);

/* Step @stmt to its end, calling @row (may be NULL) for each row, then
 * finalize it. */
bool store_sqlite_report_rows(Store *store, sqlite3_stmt *stmt,
                              void (*row)(sqlite3_stmt *, void *), void *data,
                              GError **error);

/* A copy of text column @col (NULL for NULL). */
char *store_sqlite_column_dup(sqlite3_stmt *stmt, int col);

/* Bind @tid as a TransportID blob at @col, and its text at @text_col
 * when that is positive. */
void store_sqlite_bind_tid(sqlite3_stmt *stmt, int col, int text_col,
                           const TransportId *tid);

/* A @row callback collecting text column 0 into a GPtrArray. */
void store_sqlite_row_text(sqlite3_stmt *stmt, void *names);

/* store_sqlite_schema.c: check the application id and schema version of
 * the open database, migrating it when older; check/set its journal. */
bool store_sqlite_schema_check(Store *store, GError **error);
bool store_sqlite_journal_check(Store *store, GError **error);
int store_sqlite_schema_version(void);

/* The backend's operations, each file's share (store_sqlite_*.c). */
bool store_sqlite_load_state(Store *store, const StoreLuInfo *lu,
                             PrState *state, gint64 *lu_id, bool *stale,
                             GError **error);
bool store_sqlite_lu_write(Store *store, gint64 *lu_id, const StoreLuInfo *lu,
                           const PrState *after, GError **error);
bool store_sqlite_reg_write(Store *store, gint64 lu_id,
                            const PrRegistration *reg, StoreRowChange change,
                            GError **error);
bool store_sqlite_ua_write(Store *store, gint64 lu_id,
                           const PrUnitAttention *ua, StoreRowChange change,
                           GError **error);
bool store_sqlite_lu_paths_here(Store *store, const char *lu_name,
                                GPtrArray *paths, GError **error);
bool store_sqlite_history_add(Store *store, const char *lu_name,
                              const StoreHistoryEntry *entry,
                              const StoreSenseCodes *sense, gint64 at_ms,
                              GError **error);
bool store_sqlite_history_list(Store *store, const StoreFilter *filter,
                               GArray *rows, GError **error);
bool store_sqlite_vm_lookup(Store *store, const char *key,
                            StoreVmRecord *record, GError **error);
bool store_sqlite_vm_name_taken(Store *store, const char *name, bool *taken,
                                GError **error);
bool store_sqlite_vm_insert(Store *store, const StoreVm *vm, const char *name,
                            gint64 now, GError **error);
bool store_sqlite_vm_update(Store *store, const StoreVm *vm, gint64 now,
                            GError **error);
bool store_sqlite_vm_prune(Store *store, gint64 before, unsigned *removed,
                           GError **error);
bool store_sqlite_vm_forget(Store *store, const char *name, bool *removed,
                            GError **error);
bool store_sqlite_dump_read(Store *store, const StoreFilter *filter,
                            StoreDump *dump, GError **error);
bool store_sqlite_lu_names(Store *store, const char *pattern, GPtrArray *names,
                           GError **error);
bool store_sqlite_backup(Store *store, const char *path, GError **error);

#endif /* SOFTPR_STORE_SQLITE_H */
