/*
 * store_sqlite_history: the audit history in sqlite (schema
 * 003-history.sql): appending one entry with retention pruning, and
 * reading the rows a filter selects for `softpr history`.
 */
#include "store_sqlite.h"

#include <string.h>

/* clang-format off */
static const char sql_history_insert[] =
    "INSERT INTO history (at_ms, host, origin, lu_name, initiator, "
    "initiator_name, rtpi, action, service_action, type, scope, key, "
    "sa_key, spec_i_pt, all_tg_pt, aptpl, unreg, move_rtpi, status, "
    "sense_key, asc, ascq, generation, detail) VALUES (?1, ?2, ?3, ?4, "
    "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
    "?19, ?20, ?21, ?22, ?23, ?24)";
/* Row ids only grow (no AUTOINCREMENT needed: the newest row is never
 * pruned), so "the newest N" is an id range. */
static const char sql_history_prune_rows[] = "DELETE FROM history WHERE id <= ?1";
static const char sql_history_prune_age[] =
    "DELETE FROM history WHERE at_ms < ?1";

/*
 * History names LUs by value: a path is matched through the LU of that
 * name, as for a dump.  Parameters as store_sqlite_report_prepare() binds them.
 */
#define FILTER_HISTORY                                                         \
    "(?1 IS NULL OR h.lu_name GLOB ?1 OR EXISTS (SELECT 1 FROM lu JOIN "       \
    "lu_seen s ON s.lu_id = lu.id WHERE lu.name = h.lu_name AND "              \
    "s.path GLOB ?1)) AND "                                                    \
    "(?2 IS NULL OR lower(h.initiator_name) GLOB lower(?2)) AND "              \
    "(?3 IS NULL OR h.key = ?3 OR h.sa_key = ?3) AND "                         \
    "(?4 IS NULL OR h.at_ms >= ?4)"
/* The newest ?5 rows (all when negative), oldest first. */
#define HISTORY_ROWS(columns)                                                  \
    "SELECT " columns " FROM (SELECT * FROM history h WHERE " FILTER_HISTORY   \
    " ORDER BY h.id DESC LIMIT ?5) h ORDER BY h.id"

static const char sql_history[] =
    HISTORY_ROWS("h.id, h.at_ms, h.host, h.origin, h.lu_name, "
    "h.initiator_name, h.action, h.service_action IS NOT NULL, h.type, "
    "h.scope, h.key, h.sa_key, h.spec_i_pt, h.all_tg_pt, h.aptpl, h.unreg, "
    "h.status, h.sense_key, h.asc, h.ascq, h.generation, h.detail, h.rtpi, "
    "h.service_action, h.move_rtpi");
/* clang-format on */

/* Where host ?2 has seen the LU named ?1, most recently first. */
static const char sql_history_paths[] =
    "SELECT s.path FROM lu JOIN lu_seen s ON s.lu_id = lu.id WHERE "
    "lu.name = ?1 AND s.host = ?2 ORDER BY s.last_seen DESC, s.path";

/* ------------------------------------------------------------------ */
/* Appending                                                           */
/* ------------------------------------------------------------------ */

static void bind_bool_or_null(sqlite3_stmt *stmt, int col, bool present,
                              bool value)
{
    if (present) {
        sqlite3_bind_int(stmt, col, value);
    }
}

static bool prune_history(Store *store, gint64 at_ms, GError **error)
{
    sqlite3_int64 newest = sqlite3_last_insert_rowid(store->conn->db);
    sqlite3_stmt *stmt;

    if (newest > (sqlite3_int64)store->history_keep_rows) {
        stmt = store_sqlite_stmt(store, STMT_HISTORY_PRUNE_ROWS,
                                 sql_history_prune_rows, error);
        if (stmt == NULL) {
            return false;
        }
        sqlite3_bind_int64(stmt, 1, newest - store->history_keep_rows);
        if (!store_sqlite_stmt_run(store, stmt, "pruning the history", error)) {
            return false;
        }
    }
    if (store->history_keep_days == 0) {
        return true;
    }
    stmt = store_sqlite_stmt(store, STMT_HISTORY_PRUNE_AGE,
                             sql_history_prune_age, error);
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1,
                       at_ms - (gint64)store->history_keep_days * 86400 * 1000);
    return store_sqlite_stmt_run(store, stmt, "pruning the history", error);
}

/* The PR OUT command's fields, parameters 9 to 18 (SPC-4 6.16.2). */
static void bind_fields(sqlite3_stmt *stmt, const PrOutFields *f)
{
    bool move = f->service_action == PR_OUT_REGISTER_AND_MOVE;

    sqlite3_bind_int(stmt, 9, f->service_action);
    sqlite3_bind_int(stmt, 10, f->type);
    sqlite3_bind_int(stmt, 11, f->scope);
    sqlite3_bind_int64(stmt, 12, (sqlite3_int64)f->rk);
    sqlite3_bind_int64(stmt, 13, (sqlite3_int64)f->sark);
    bind_bool_or_null(stmt, 14, !move, f->spec_i_pt);
    bind_bool_or_null(stmt, 15, !move, f->all_tg_pt);
    sqlite3_bind_int(stmt, 16, f->aptpl);
    bind_bool_or_null(stmt, 17, move, f->unreg);
    if (move) {
        sqlite3_bind_int(stmt, 18, f->move_rtpi);
    }
}

bool store_sqlite_history_add(Store *store, const char *lu_name,
                              const StoreHistoryEntry *entry,
                              const StoreSenseCodes *sense, gint64 at_ms,
                              GError **error)
{
    sqlite3_stmt *stmt = store_sqlite_stmt(store, STMT_HISTORY_INSERT,
                                           sql_history_insert, error);

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, at_ms);
    sqlite3_bind_text(stmt, 2, store->host_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, entry->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, lu_name, -1, SQLITE_STATIC);
    if (entry->initiator != NULL) {
        store_sqlite_bind_tid(stmt, 5, 6, entry->initiator);
        sqlite3_bind_int(stmt, 7, entry->rtpi);
    }
    sqlite3_bind_text(stmt, 8, entry->action, -1, SQLITE_STATIC);
    if (entry->fields != NULL) {
        bind_fields(stmt, entry->fields);
    }
    sqlite3_bind_int(stmt, 19, entry->status);
    if (sense->present) {
        sqlite3_bind_int(stmt, 20, sense->key);
        sqlite3_bind_int(stmt, 21, sense->asc);
        sqlite3_bind_int(stmt, 22, sense->ascq);
    }
    sqlite3_bind_int64(stmt, 23, entry->generation);
    sqlite3_bind_text(stmt, 24, entry->detail, -1, SQLITE_STATIC);
    if (!store_sqlite_stmt_run(store, stmt, "recording the history", error)) {
        return false;
    }
    return prune_history(store, at_ms, error);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static void row_history(sqlite3_stmt *stmt, void *data)
{
    StoreHistoryRow row = {
        .id = sqlite3_column_int64(stmt, 0),
        .at_ms = sqlite3_column_int64(stmt, 1),
        .host = store_sqlite_column_dup(stmt, 2),
        .origin = store_sqlite_column_dup(stmt, 3),
        .lu_name = store_sqlite_column_dup(stmt, 4),
        .initiator = store_sqlite_column_dup(stmt, 5),
        .action = store_sqlite_column_dup(stmt, 6),
        .has_fields = sqlite3_column_int(stmt, 7) != 0,
        .type = (uint8_t)sqlite3_column_int(stmt, 8),
        .scope = (uint8_t)sqlite3_column_int(stmt, 9),
        .key = (uint64_t)sqlite3_column_int64(stmt, 10),
        .sa_key = (uint64_t)sqlite3_column_int64(stmt, 11),
        .spec_i_pt = sqlite3_column_int(stmt, 12) != 0,
        .all_tg_pt = sqlite3_column_int(stmt, 13) != 0,
        .aptpl = sqlite3_column_int(stmt, 14) != 0,
        .unreg = sqlite3_column_int(stmt, 15) != 0,
        .status = (uint8_t)sqlite3_column_int(stmt, 16),
        .sense_key = (uint8_t)sqlite3_column_int(stmt, 17),
        .asc = (uint8_t)sqlite3_column_int(stmt, 18),
        .ascq = (uint8_t)sqlite3_column_int(stmt, 19),
        .generation = (uint32_t)sqlite3_column_int64(stmt, 20),
        .detail = store_sqlite_column_dup(stmt, 21),
        .has_rtpi = sqlite3_column_type(stmt, 22) != SQLITE_NULL,
        .rtpi = (uint16_t)sqlite3_column_int(stmt, 22),
        .service_action = (uint8_t)sqlite3_column_int(stmt, 23),
        .has_move = sqlite3_column_type(stmt, 24) != SQLITE_NULL,
        .move_rtpi = (uint16_t)sqlite3_column_int(stmt, 24),
        .has_sense = sqlite3_column_type(stmt, 17) != SQLITE_NULL,
    };

    g_array_append_val((GArray *)data, row);
}

/* Fill each row's paths, looking each (LU, host) up once. */
static bool history_paths(Store *store, GArray *rows, GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(
        g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
    guint i;

    for (i = 0; i < rows->len; i++) {
        StoreHistoryRow *row = &g_array_index(rows, StoreHistoryRow, i);
        char *key = g_strdup_printf("%zu:%s%s", strlen(row->lu_name),
                                    row->lu_name, row->host);
        char **paths = g_hash_table_lookup(seen, key);

        if (paths == NULL) {
            g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
            sqlite3_stmt *stmt = store_sqlite_report_prepare(
                store, sql_history_paths, NULL, error);

            if (stmt == NULL) {
                g_free(key);
                return false;
            }
            sqlite3_bind_text(stmt, 1, row->lu_name, -1, SQLITE_STATIC);
            sqlite3_bind_text(stmt, 2, row->host, -1, SQLITE_STATIC);
            if (!store_sqlite_report_rows(store, stmt, store_sqlite_row_text,
                                          found, error)) {
                g_free(key);
                return false;
            }
            g_ptr_array_add(found, NULL);
            paths = (char **)g_ptr_array_free(g_steal_pointer(&found), FALSE);
            g_hash_table_insert(seen, key, paths);
        } else {
            g_free(key);
        }
        row->paths = g_strdupv(paths);
    }
    return true;
}

bool store_sqlite_history_list(Store *store, const StoreFilter *filter,
                               GArray *rows, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_report_prepare(store, sql_history, filter, error);

    return stmt != NULL &&
           store_sqlite_report_rows(store, stmt, row_history, rows, error) &&
           history_paths(store, rows, error);
}
