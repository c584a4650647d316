/*
 * store_sqlite_backup: a consistent copy of the sqlite database with
 * sqlite's online backup, checked and put in the rollback journal mode;
 * store_backup() (store_check.c) names it and syncs it.
 */
#include "store_sqlite.h"

#include "error.h"

/* Open @path, copy the source into it, check and sync it. */
static bool backup_copy(Store *store, const char *path, GError **error)
{
    sqlite3 *dest = NULL;
    sqlite3_backup *backup;
    g_autofree char *check = NULL;
    int rc = sqlite3_open_v2(path, &dest, SQLITE_OPEN_READWRITE, NULL);
    bool ok = false;

    if (rc == SQLITE_OK) {
        backup = sqlite3_backup_init(dest, "main", store->conn->db, "main");
        rc = backup == NULL ? sqlite3_errcode(dest)
                            : sqlite3_backup_step(backup, -1);
        if (backup != NULL) {
            sqlite3_backup_finish(backup);
        }
    }
    if (rc != SQLITE_DONE) {
        g_set_error(error, SOFTPR_ERROR,
                    rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? SOFTPR_ERROR_BUSY
                                                             : SOFTPR_ERROR_IO,
                    "backup to %s: %s", path,
                    dest != NULL ? sqlite3_errmsg(dest) : sqlite3_errstr(rc));
        goto out;
    }
    /* A copy of a WAL database would be one too: the copy may go where
     * hosts share it. */
    if (sqlite3_exec(dest,
                     "PRAGMA journal_mode = DELETE; PRAGMA synchronous = "
                     "EXTRA",
                     NULL, NULL, NULL) != SQLITE_OK) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO, "backup to %s: %s",
                    path, sqlite3_errmsg(dest));
        goto out;
    }
    {
        sqlite3_stmt *stmt = NULL;

        if (sqlite3_prepare_v2(dest, "PRAGMA quick_check", -1, &stmt, NULL) ==
                SQLITE_OK &&
            sqlite3_step(stmt) == SQLITE_ROW) {
            check = g_strdup((const char *)sqlite3_column_text(stmt, 0));
        }
        sqlite3_finalize(stmt);
    }
    if (g_strcmp0(check, "ok") != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CORRUPT,
                    "backup to %s: the copy fails its check: %s", path,
                    check != NULL ? check : sqlite3_errmsg(dest));
        goto out;
    }
    ok = true;
out:
    sqlite3_close(dest);
    return ok;
}

bool store_sqlite_backup(Store *store, const char *path, GError **error)
{
    gint64 objects = 0;

    /* A deferred transaction locks nothing until it reads: read, so
     * that the copy is one snapshot. */
    return store_sqlite_query_int(store, "SELECT count(*) FROM sqlite_schema",
                                  &objects, error) &&
           backup_copy(store, path, error);
}
