/*
 * store_sqlite_state: one logical unit's PR state in sqlite: the lu row
 * with where it was seen (lu_seen), its registrations and its pending
 * unit attentions; loaded whole, saved as the difference between the
 * state before and after a command.
 */
#include "store_sqlite.h"

#include <string.h>

#include "error.h"

/* clang-format off */
static const char sql_lu_select[] =
    "SELECT id, generation, aptpl, info_lost, res_type, res_scope, "
    "id_source, EXISTS (SELECT 1 FROM lu_seen s WHERE s.lu_id = lu.id "
    "AND s.host = ?2 AND s.path = ?3) FROM lu WHERE name = ?1";
static const char sql_reg_select[] =
    "SELECT initiator, rtpi, all_tg_pt, key, holder "
    "FROM registration WHERE lu_id = ?1 ORDER BY id";
static const char sql_ua_select[] =
    "SELECT initiator, rtpi, asc, ascq "
    "FROM unit_attention WHERE lu_id = ?1 ORDER BY id";
static const char sql_lu_insert[] =
    "INSERT INTO lu (name, id_source, generation, aptpl, info_lost, "
    "res_type, res_scope, last_host, last_path, last_seen, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)";
/* An administrator's change (no path) keeps where the LU was seen. */
static const char sql_lu_update[] =
    "UPDATE lu SET id_source = coalesce(?2, id_source), generation = ?3, "
    "aptpl = ?4, info_lost = ?5, res_type = ?6, res_scope = ?7, "
    "last_host = iif(?9 IS NULL, last_host, ?8), "
    "last_path = coalesce(?9, last_path), "
    "last_seen = iif(?9 IS NULL, last_seen, ?10) WHERE id = ?1";
static const char sql_reg_insert[] =
    "INSERT INTO registration (lu_id, initiator, initiator_name, rtpi, "
    "all_tg_pt, key, holder, host, registered_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char sql_reg_update[] =
    "UPDATE registration SET all_tg_pt = ?4, key = ?5, holder = ?6 "
    "WHERE lu_id = ?1 AND initiator = ?2 AND rtpi = ?3";
static const char sql_reg_delete[] =
    "DELETE FROM registration WHERE lu_id = ?1 AND initiator = ?2 "
    "AND rtpi = ?3";
static const char sql_ua_insert[] =
    "INSERT INTO unit_attention (lu_id, initiator, initiator_name, rtpi, "
    "asc, ascq, raised_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_ua_delete[] =
    "DELETE FROM unit_attention WHERE lu_id = ?1 AND initiator = ?2 "
    "AND rtpi = ?3 AND asc = ?4 AND ascq = ?5";
/* Unchanged within the same second, the row is not written: one page
 * fewer to journal and sync for every other PR OUT. */
static const char sql_seen_upsert[] =
    "INSERT INTO lu_seen (lu_id, host, path, id_source, first_seen, "
    "last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?5) "
    "ON CONFLICT (lu_id, host, path) DO UPDATE SET "
    "id_source = excluded.id_source, last_seen = excluded.last_seen "
    "WHERE id_source IS NOT excluded.id_source "
    "OR last_seen IS NOT excluded.last_seen";
static const char sql_seen_paths[] =
    "SELECT s.path FROM lu_seen s JOIN lu ON lu.id = s.lu_id "
    "WHERE lu.name = ?1 AND s.host = ?2 ORDER BY s.first_seen";
/* clang-format on */

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

static bool column_tid(sqlite3_stmt *stmt, int col, TransportId *tid)
{
    const uint8_t *blob = sqlite3_column_blob(stmt, col);
    size_t len = (size_t)sqlite3_column_bytes(stmt, col);
    size_t used = 0;

    return blob != NULL && tid_decode(blob, len, tid, &used) == TID_OK &&
           used == len;
}

static bool corrupt(Store *store, GError **error, const char *name,
                    const char *what)
{
    g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CORRUPT,
                "%s: logical unit %s: %s", store->path, name, what);
    return false;
}

/* The lu row of @lu into @state: *@lu_id 0 when there is none. */
static bool load_lu(Store *store, const StoreLuInfo *lu, PrState *state,
                    gint64 *lu_id, bool *stale, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_LU_SELECT, sql_lu_select, error);
    int rc;

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_text(stmt, 1, lu->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, store->host_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, lu->path, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *lu_id = sqlite3_column_int64(stmt, 0);
        state->generation = (uint32_t)sqlite3_column_int64(stmt, 1);
        state->aptpl = sqlite3_column_int(stmt, 2) != 0;
        state->info_lost = sqlite3_column_int(stmt, 3) != 0;
        state->res_type = (uint8_t)sqlite3_column_int(stmt, 4);
        state->res_scope = (uint8_t)sqlite3_column_int(stmt, 5);
        /* Seen for the first time from here, or identified differently. */
        *stale = lu->path != NULL &&
                 (sqlite3_column_int(stmt, 7) == 0 ||
                  g_strcmp0((const char *)sqlite3_column_text(stmt, 6),
                            lu->id_source) != 0);
    }
    store_sqlite_stmt_done(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_sqlite_set_error(store, error, rc, "reading a logical unit");
        return false;
    }
    return true;
}

static bool load_registrations(Store *store, const char *name, gint64 lu_id,
                               PrState *state, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_REG_SELECT, sql_reg_select, error);
    int rc;

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, lu_id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        PrRegistration reg;

        memset(&reg, 0, sizeof(reg));
        if (!column_tid(stmt, 0, &reg.initiator)) {
            store_sqlite_stmt_done(stmt);
            return corrupt(store, error, name, "undecodable initiator");
        }
        reg.rtpi = (uint16_t)sqlite3_column_int(stmt, 1);
        reg.all_tg_pt = sqlite3_column_int(stmt, 2) != 0;
        reg.key = (uint64_t)sqlite3_column_int64(stmt, 3);
        reg.holder = sqlite3_column_int(stmt, 4) != 0;
        g_array_append_val(state->regs, reg);
    }
    store_sqlite_stmt_done(stmt);
    if (rc != SQLITE_DONE) {
        store_sqlite_set_error(store, error, rc, "reading registrations");
        return false;
    }
    return true;
}

static bool load_unit_attentions(Store *store, const char *name, gint64 lu_id,
                                 PrState *state, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_UA_SELECT, sql_ua_select, error);
    int rc;

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, lu_id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        PrUnitAttention ua;

        memset(&ua, 0, sizeof(ua));
        if (!column_tid(stmt, 0, &ua.initiator)) {
            store_sqlite_stmt_done(stmt);
            return corrupt(store, error, name, "undecodable initiator");
        }
        ua.rtpi = (uint16_t)sqlite3_column_int(stmt, 1);
        ua.asc = (uint8_t)sqlite3_column_int(stmt, 2);
        ua.ascq = (uint8_t)sqlite3_column_int(stmt, 3);
        g_array_append_val(state->uas, ua);
    }
    store_sqlite_stmt_done(stmt);
    if (rc != SQLITE_DONE) {
        store_sqlite_set_error(store, error, rc, "reading unit attentions");
        return false;
    }
    return true;
}

bool store_sqlite_load_state(Store *store, const StoreLuInfo *lu,
                             PrState *state, gint64 *lu_id, bool *stale,
                             GError **error)
{
    *lu_id = 0;
    *stale = false;
    if (!load_lu(store, lu, state, lu_id, stale, error)) {
        return false;
    }
    if (*lu_id == 0) {
        return true;
    }
    if (!load_registrations(store, lu->name, *lu_id, state, error) ||
        !load_unit_attentions(store, lu->name, *lu_id, state, error)) {
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Saving                                                              */
/* ------------------------------------------------------------------ */

bool store_sqlite_lu_write(Store *store, gint64 *lu_id, const StoreLuInfo *lu,
                           const PrState *after, GError **error)
{
    sqlite3_stmt *stmt =
        *lu_id == 0
            ? store_sqlite_stmt(store, STMT_LU_INSERT, sql_lu_insert, error)
            : store_sqlite_stmt(store, STMT_LU_UPDATE, sql_lu_update, error);

    if (stmt == NULL) {
        return false;
    }
    if (*lu_id == 0) {
        sqlite3_bind_text(stmt, 1, lu->name, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_int64(stmt, 1, *lu_id);
    }
    sqlite3_bind_text(stmt, 2, lu->id_source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, after->generation);
    sqlite3_bind_int(stmt, 4, after->aptpl);
    sqlite3_bind_int(stmt, 5, after->info_lost);
    sqlite3_bind_int(stmt, 6, after->res_type);
    sqlite3_bind_int(stmt, 7, after->res_scope);
    sqlite3_bind_text(stmt, 8, store->host_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 9, lu->path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 10, store_now_seconds());
    if (!store_sqlite_stmt_run(store, stmt, "writing a logical unit", error)) {
        return false;
    }
    if (*lu_id == 0) {
        *lu_id = sqlite3_last_insert_rowid(store->conn->db);
    }
    if (lu->path == NULL) {
        return true;
    }
    stmt = store_sqlite_stmt(store, STMT_SEEN_UPSERT, sql_seen_upsert, error);
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, *lu_id);
    sqlite3_bind_text(stmt, 2, store->host_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, lu->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, lu->id_source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, store_now_seconds());
    return store_sqlite_stmt_run(
        store, stmt, "recording where a logical unit is seen", error);
}

static bool delete_registration(Store *store, gint64 lu_id,
                                const PrRegistration *old, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_REG_DELETE, sql_reg_delete, error);

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, lu_id);
    store_sqlite_bind_tid(stmt, 2, 0, &old->initiator);
    sqlite3_bind_int(stmt, 3, old->rtpi);
    return store_sqlite_stmt_run(store, stmt, "removing a registration", error);
}

static bool update_registration(Store *store, gint64 lu_id,
                                const PrRegistration *reg, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_REG_UPDATE, sql_reg_update, error);

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, lu_id);
    store_sqlite_bind_tid(stmt, 2, 0, &reg->initiator);
    sqlite3_bind_int(stmt, 3, reg->rtpi);
    sqlite3_bind_int(stmt, 4, reg->all_tg_pt);
    sqlite3_bind_int64(stmt, 5, (sqlite3_int64)reg->key);
    sqlite3_bind_int(stmt, 6, reg->holder);
    return store_sqlite_stmt_run(store, stmt, "updating a registration", error);
}

static bool insert_registration(Store *store, gint64 lu_id,
                                const PrRegistration *reg, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_REG_INSERT, sql_reg_insert, error);

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, lu_id);
    store_sqlite_bind_tid(stmt, 2, 3, &reg->initiator);
    sqlite3_bind_int(stmt, 4, reg->rtpi);
    sqlite3_bind_int(stmt, 5, reg->all_tg_pt);
    sqlite3_bind_int64(stmt, 6, (sqlite3_int64)reg->key);
    sqlite3_bind_int(stmt, 7, reg->holder);
    sqlite3_bind_text(stmt, 8, store->host_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 9, store_now_seconds());
    return store_sqlite_stmt_run(store, stmt, "adding a registration", error);
}

static bool delete_unit_attention(Store *store, gint64 lu_id,
                                  const PrUnitAttention *ua, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_UA_DELETE, sql_ua_delete, error);

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, lu_id);
    store_sqlite_bind_tid(stmt, 2, 0, &ua->initiator);
    sqlite3_bind_int(stmt, 3, ua->rtpi);
    sqlite3_bind_int(stmt, 4, ua->asc);
    sqlite3_bind_int(stmt, 5, ua->ascq);
    return store_sqlite_stmt_run(store, stmt, "removing a unit attention",
                                 error);
}

static bool insert_unit_attention(Store *store, gint64 lu_id,
                                  const PrUnitAttention *ua, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_UA_INSERT, sql_ua_insert, error);

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, lu_id);
    store_sqlite_bind_tid(stmt, 2, 3, &ua->initiator);
    sqlite3_bind_int(stmt, 4, ua->rtpi);
    sqlite3_bind_int(stmt, 5, ua->asc);
    sqlite3_bind_int(stmt, 6, ua->ascq);
    sqlite3_bind_int64(stmt, 7, store_now_seconds());
    return store_sqlite_stmt_run(store, stmt, "queueing a unit attention",
                                 error);
}

bool store_sqlite_reg_write(Store *store, gint64 lu_id,
                            const PrRegistration *reg, StoreRowChange change,
                            GError **error)
{
    switch (change) {
    case STORE_ROW_ADD:
        return insert_registration(store, lu_id, reg, error);
    case STORE_ROW_UPDATE:
        return update_registration(store, lu_id, reg, error);
    case STORE_ROW_REMOVE:
        return delete_registration(store, lu_id, reg, error);
    }
    g_assert_not_reached();
}

bool store_sqlite_ua_write(Store *store, gint64 lu_id,
                           const PrUnitAttention *ua, StoreRowChange change,
                           GError **error)
{
    g_assert(change != STORE_ROW_UPDATE);
    return change == STORE_ROW_ADD
               ? insert_unit_attention(store, lu_id, ua, error)
               : delete_unit_attention(store, lu_id, ua, error);
}

bool store_sqlite_lu_paths_here(Store *store, const char *lu_name,
                                GPtrArray *paths, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_SEEN_PATHS, sql_seen_paths, error);
    int rc;

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_text(stmt, 1, lu_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, store->host_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        g_ptr_array_add(paths, store_sqlite_column_dup(stmt, 0));
    }
    store_sqlite_stmt_done(stmt);
    if (rc != SQLITE_DONE) {
        store_sqlite_set_error(store, error, rc,
                               "reading where an LU was seen");
        return false;
    }
    return true;
}
