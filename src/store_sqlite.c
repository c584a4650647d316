/*
 * store_sqlite: the sqlite backend's connection: opening it with the
 * pragmas that keep a shared file safe, the busy handler that bounds
 * lock waits, transactions and savepoints, the statement cache, and the
 * backend table that store.c dispatches through.
 */
#include "store_sqlite.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static SoftprError error_code_for(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return SOFTPR_ERROR_BUSY;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
        return SOFTPR_ERROR_IO;
    case SQLITE_CORRUPT:
        return SOFTPR_ERROR_CORRUPT;
    case SQLITE_NOTADB:
        return SOFTPR_ERROR_FOREIGN;
    default:
        return SOFTPR_ERROR_FAILED;
    }
}

void store_sqlite_set_error(Store *store, GError **error, int rc,
                            const char *what)
{
    sqlite3 *db = store->conn != NULL ? store->conn->db : NULL;
    const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

    /* sqlite's own word for it is "attempt to write a readonly
     * database", which sends an administrator after permissions. */
    if (rc == SQLITE_READONLY_DBMOVED) {
        msg = "the database file was replaced or deleted while open; the "
              "next command uses the file now at the path";
    }
    store_set_error(store, error, error_code_for(rc), what, msg);
}

/* ------------------------------------------------------------------ */
/* Lock waits                                                          */
/* ------------------------------------------------------------------ */

/*
 * sqlite calls this while another connection holds a conflicting lock.
 * Sleep a little longer each time, with jitter, until the deadline of
 * the current operation; returning 0 makes the operation fail BUSY.
 */
static int busy_handler(void *arg, int count)
{
    Store *store = arg;
    gint64 now = g_get_monotonic_time();
    gint64 wait;

    if (now >= store->deadline) {
        return 0;
    }
    /* 0.25, 0.5, then 1 ms: a commit takes about 1 ms, and sleeping
     * longer than one leaves the file idle while other daemons wait. */
    wait = (gint64)250 << (count < 2 ? count : 2);
    wait += g_rand_int_range(store->rand, 0, (gint32)(wait / 2 + 1));
    if (wait > store->deadline - now) {
        wait = store->deadline - now;
    }
    g_usleep((gulong)wait);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

sqlite3_stmt *store_sqlite_stmt(Store *store, StmtId id, const char *sql,
                                GError **error)
{
    StoreConn *conn = store->conn;
    int rc;

    if (conn->stmts[id] == NULL) {
        rc = sqlite3_prepare_v3(conn->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                &conn->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            store_sqlite_set_error(store, error, rc, "preparing a statement");
            return NULL;
        }
    }
    return conn->stmts[id];
}

void store_sqlite_stmt_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

bool store_sqlite_stmt_run(Store *store, sqlite3_stmt *stmt, const char *what,
                           GError **error)
{
    int rc = sqlite3_step(stmt);

    store_sqlite_stmt_done(stmt);
    if (rc != SQLITE_DONE) {
        store_sqlite_set_error(store, error, rc, what);
        return false;
    }
    return true;
}

bool store_sqlite_exec(Store *store, const char *sql, const char *what,
                       GError **error)
{
    int rc = sqlite3_exec(store->conn->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK) {
        store_sqlite_set_error(store, error, rc, what);
        return false;
    }
    return true;
}

char *store_sqlite_query_text(Store *store, const char *sql, GError **error)
{
    sqlite3_stmt *stmt = NULL;
    char *value = NULL;
    int rc;

    rc = sqlite3_prepare_v2(store->conn->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(stmt, 0);

        value = g_strdup(text != NULL ? (const char *)text : "");
    } else {
        store_sqlite_set_error(store, error, rc, sql);
    }
    sqlite3_finalize(stmt);
    return value;
}

bool store_sqlite_query_int(Store *store, const char *sql, gint64 *out,
                            GError **error)
{
    g_autofree char *text = store_sqlite_query_text(store, sql, error);

    if (text == NULL) {
        return false;
    }
    *out = g_ascii_strtoll(text, NULL, 10);
    return true;
}

sqlite3_stmt *store_sqlite_report_prepare(Store *store, const char *sql,
                                          const StoreFilter *filter,
                                          GError **error)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(store->conn->db, sql, -1, &stmt, NULL);

    if (rc != SQLITE_OK) {
        store_sqlite_set_error(store, error, rc, "preparing a report");
        sqlite3_finalize(stmt);
        return NULL;
    }
    if (filter == NULL) {
        return stmt;
    }
    /* Binding a parameter a query does not use is harmless: it fails
     * with SQLITE_RANGE, which nothing needs to know. */
    sqlite3_bind_text(stmt, 1, filter->lu, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, filter->initiator, -1, SQLITE_STATIC);
    if (filter->has_key) {
        sqlite3_bind_int64(stmt, 3, (sqlite3_int64)filter->key);
    }
    if (filter->since_ms > 0) {
        sqlite3_bind_int64(stmt, 4, filter->since_ms);
    }
    sqlite3_bind_int64(stmt, 5,
                       filter->limit > 0 ? (sqlite3_int64)filter->limit : -1);
    return stmt;
}

bool store_sqlite_report_rows(Store *store, sqlite3_stmt *stmt,
                              void (*row)(sqlite3_stmt *, void *), void *data,
                              GError **error)
{
    int rc;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (row != NULL) {
            row(stmt, data);
        }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        store_sqlite_set_error(store, error, rc, "reading a report");
        return false;
    }
    return true;
}

char *store_sqlite_column_dup(sqlite3_stmt *stmt, int col)
{
    return g_strdup((const char *)sqlite3_column_text(stmt, col));
}

void store_sqlite_bind_tid(sqlite3_stmt *stmt, int col, int text_col,
                           const TransportId *tid)
{
    uint8_t buf[TID_ENCODED_MAX];
    size_t len = tid_encode(tid, buf);

    sqlite3_bind_blob(stmt, col, buf, (int)len, SQLITE_TRANSIENT);
    if (text_col > 0) {
        sqlite3_bind_text(stmt, text_col, tid_to_string(tid), -1, g_free);
    }
}

void store_sqlite_row_text(sqlite3_stmt *stmt, void *names)
{
    g_ptr_array_add(names, store_sqlite_column_dup(stmt, 0));
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                 */
/* ------------------------------------------------------------------ */

/* Fail unless the database's directory exists, and, without @create,
 * the file itself. */
static bool check_path(Store *store, bool create, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(store->path);
    struct stat st;

    errno = 0;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                    "database directory %s: %s", dir,
                    errno == ENOENT ? "does not exist"
                    : errno != 0    ? g_strerror(errno)
                                    : "not a directory");
        return false;
    }
    if (!create && !g_file_test(store->path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                    "database %s does not exist", store->path);
        return false;
    }
    return true;
}

/* The pragmas of a safe connection, then the journal and the schema. */
static bool configure(Store *store, GError **error)
{
    sqlite3 *db = store->conn->db;
    const char *sync;

    /* Limit what a hostile file on shared storage can do. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_busy_handler(db, busy_handler, store);
    if (!store_sqlite_exec(
            store,
            "PRAGMA foreign_keys = ON; PRAGMA cell_size_check = ON; "
            "PRAGMA mmap_size = 0",
            "configuring the connection", error) ||
        !store_sqlite_journal_check(store, error)) {
        return false;
    }
    /* EXTRA also syncs the directory after the journal is deleted, which
     * is the commit point in rollback mode. */
    sync = store->journal == STORE_JOURNAL_WAL ? "PRAGMA synchronous = FULL"
                                               : "PRAGMA synchronous = EXTRA";
    return store_sqlite_exec(store, sync, "setting synchronous", error) &&
           store_sqlite_schema_check(store, error);
}

static void store_sqlite_close(Store *store)
{
    StoreConn *conn = store->conn;
    int i;

    if (conn == NULL) {
        return;
    }
    if (conn->db != NULL && !sqlite3_get_autocommit(conn->db)) {
        sqlite3_exec(conn->db, "ROLLBACK", NULL, NULL, NULL);
    }
    for (i = 0; i < STMT_COUNT; i++) {
        sqlite3_finalize(conn->stmts[i]);
    }
    sqlite3_close(conn->db);
    g_free(conn);
    store->conn = NULL;
}

static bool store_sqlite_open(Store *store, bool create, GError **error)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW |
                SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOMUTEX;
    int rc;

    if (!check_path(store, create, error)) {
        return false;
    }
    if (create) {
        flags |= SQLITE_OPEN_CREATE;
    }
    store->conn = g_new0(StoreConn, 1);
    rc = sqlite3_open_v2(store->path, &store->conn->db, flags, store->vfs);
    if (rc != SQLITE_OK) {
        store_sqlite_set_error(store, error, rc, "cannot open the database");
        store_sqlite_close(store);
        return false;
    }
    if (!configure(store, error)) {
        store_sqlite_close(store);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

static bool store_sqlite_begin(Store *store, bool write, gint64 deadline,
                               GError **error)
{
    sqlite3_stmt *stmt = write ? store_sqlite_stmt(store, STMT_BEGIN_WRITE,
                                                   "BEGIN IMMEDIATE", error)
                               : store_sqlite_stmt(store, STMT_BEGIN_READ,
                                                   "BEGIN DEFERRED", error);

    /* The busy handler waits until store->deadline, which store.c set
     * to @deadline. */
    return stmt != NULL &&
           store_sqlite_stmt_run(store, stmt, "beginning a transaction", error);
}

static bool store_sqlite_commit(Store *store, GError **error)
{
    sqlite3_stmt *stmt = store_sqlite_stmt(store, STMT_COMMIT, "COMMIT", error);

    return stmt != NULL &&
           store_sqlite_stmt_run(store, stmt, "committing", error);
}

static bool store_sqlite_in_transaction(Store *store)
{
    return store->conn != NULL && !sqlite3_get_autocommit(store->conn->db);
}

static void store_sqlite_rollback(Store *store)
{
    if (store_sqlite_in_transaction(store)) {
        sqlite3_exec(store->conn->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

static bool store_sqlite_savepoint(Store *store, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_SAVEPOINT, "SAVEPOINT command", error);

    return stmt != NULL &&
           store_sqlite_stmt_run(store, stmt, "starting a command's savepoint",
                                 error);
}

static bool store_sqlite_savepoint_release(Store *store, GError **error)
{
    sqlite3_stmt *stmt = store_sqlite_stmt(store, STMT_SAVEPOINT_RELEASE,
                                           "RELEASE command", error);

    return stmt != NULL &&
           store_sqlite_stmt_run(store, stmt, "ending a command's savepoint",
                                 error);
}

static bool store_sqlite_savepoint_rollback(Store *store, GError **error)
{
    sqlite3_stmt *stmt = store_sqlite_stmt(store, STMT_SAVEPOINT_ROLLBACK,
                                           "ROLLBACK TO command", error);

    /* ROLLBACK TO keeps the savepoint open: release it too. */
    return stmt != NULL &&
           store_sqlite_stmt_run(store, stmt, "undoing a command", error) &&
           store_sqlite_savepoint_release(store, error);
}

/* ------------------------------------------------------------------ */
/* Checks                                                              */
/* ------------------------------------------------------------------ */

static bool store_sqlite_check_integrity(Store *store, GPtrArray *problems,
                                         GError **error)
{
    sqlite3_stmt *stmt = store_sqlite_report_prepare(
        store, "PRAGMA integrity_check", NULL, error);

    if (stmt == NULL ||
        !store_sqlite_report_rows(store, stmt, store_sqlite_row_text, problems,
                                  error)) {
        return false;
    }
    /* sqlite says "ok" alone when it found nothing. */
    if (problems->len == 1 &&
        strcmp(g_ptr_array_index(problems, 0), "ok") == 0) {
        g_ptr_array_set_size(problems, 0);
    }
    return true;
}

static bool store_sqlite_check_writable(Store *store, GError **error)
{
    /* A new table dirties pages, which sqlite first copies to its
     * rollback journal (or appends to the WAL). */
    return store_sqlite_exec(store, "CREATE TABLE softpr_write_check (x)",
                             "writing to the database", error);
}

static char *store_sqlite_describe(const Store *store)
{
    return g_strdup_printf("sqlite %s (journal %s)", store->path,
                           store->journal == STORE_JOURNAL_WAL ? "wal"
                                                               : "delete");
}

/* Every path names a file: the last backend asked. */
static bool store_sqlite_claims(const char *path)
{
    return true;
}

const StoreBackend store_sqlite_backend = {
    .name = "sqlite",
    .claims = store_sqlite_claims,
    .is_file = true,
    .open = store_sqlite_open,
    .close = store_sqlite_close,
    .schema_version = store_sqlite_schema_version,
    .begin = store_sqlite_begin,
    .commit = store_sqlite_commit,
    .rollback = store_sqlite_rollback,
    .in_transaction = store_sqlite_in_transaction,
    .savepoint = store_sqlite_savepoint,
    .savepoint_release = store_sqlite_savepoint_release,
    .savepoint_rollback = store_sqlite_savepoint_rollback,
    .load_state = store_sqlite_load_state,
    .lu_write = store_sqlite_lu_write,
    .reg_write = store_sqlite_reg_write,
    .ua_write = store_sqlite_ua_write,
    .lu_paths_here = store_sqlite_lu_paths_here,
    .history_add = store_sqlite_history_add,
    .history_list = store_sqlite_history_list,
    .vm_lookup = store_sqlite_vm_lookup,
    .vm_name_taken = store_sqlite_vm_name_taken,
    .vm_insert = store_sqlite_vm_insert,
    .vm_update = store_sqlite_vm_update,
    .vm_prune = store_sqlite_vm_prune,
    .vm_forget = store_sqlite_vm_forget,
    .dump_read = store_sqlite_dump_read,
    .lu_names = store_sqlite_lu_names,
    .check_integrity = store_sqlite_check_integrity,
    .check_writable = store_sqlite_check_writable,
    .backup = store_sqlite_backup,
    .describe = store_sqlite_describe,
};
